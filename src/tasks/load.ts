// Loading a user's task module (JavaScript, or TypeScript on a Node that strips types; anywhere on disk) for
// `dtq worker --tasks`.
// A module exports its tasks as `tasks` (an array or a record) or as its default export; each entry is a
// definition made with defineTask, or, untyped, a plain handler function named by its key.
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { taskNameProblem } from "../domain/job-spec.ts"
import type { TaskHandler } from "../worker/task-handler.ts"
import { isTaskDefinition, type AnyTaskDefinition } from "./define.ts"
import { definitionHandler } from "./run.ts"

/** A task a worker can run: its handler over wire values, and its definition when it has Schemas. */
export type LoadedTask = { readonly name: string; readonly handler: TaskHandler; readonly definition?: AnyTaskDefinition }

/** A task module that cannot be used, with the reason. */
export class TaskModuleError extends Error {
  override readonly name = "TaskModuleError"
}

/**
 * Loads a task module: JavaScript (.js, .mjs) on any supported Node; TypeScript (.ts, .mts) only on a Node
 * that strips types (22.18+, 23.6+, 24) and outside node_modules. What cannot be loaded says why.
 */
export const loadTaskModule = async (path: string): Promise<Map<string, LoadedTask>> => {
  const file = resolve(path)
  if (!existsSync(file)) throw new TaskModuleError(`--tasks: no such file ${file}`)
  const unloadable = unloadableReason(file)
  if (unloadable !== undefined) throw new TaskModuleError(`--tasks: cannot load ${file}: ${unloadable}`)
  let module: Record<string, unknown>
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>
  } catch (error) {
    throw new TaskModuleError(`--tasks: could not load ${file}: ${loadFailure(error)}`)
  }
  return tasksOf(module, file)
}

const TYPESCRIPT = /\.(ts|mts|cts|tsx)$/
const COMPILE_HINT = "compile it to JavaScript (tsc) and pass the .js file"

/** Why this Node cannot load the file at all, before trying; undefined when it may. */
const unloadableReason = (file: string): string | undefined => {
  if (!TYPESCRIPT.test(file)) return undefined
  if (file.endsWith(".tsx")) return `a .tsx module needs a compiler (Node strips types only from .ts, .mts and .cts); ${COMPILE_HINT}`
  const strips = (process.features as { typescript?: unknown }).typescript
  if (strips === undefined || strips === false) {
    return `it is TypeScript and this Node (${process.version}) does not strip types (Node 22.18+, 23.6+ and 24 do); ${COMPILE_HINT}, or run dtq with a newer Node`
  }
  return undefined
}

/** Node's reason for a failed import, with what to do for the failures a task module's author can fix. */
const loadFailure = (error: unknown): string => {
  const message = (error as Error).message
  switch ((error as { code?: unknown }).code) {
    case "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING":
      return `Node does not strip types from files under node_modules; ${COMPILE_HINT}`
    case "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX":
      return `${message.split("\n")[0]} (Node strips only erasable TypeScript: no enums, namespaces or parameter properties); ${COMPILE_HINT}`
    case "ERR_UNKNOWN_FILE_EXTENSION":
      return `${message} (dtq loads .js, .mjs, and .ts or .mts on a Node that strips types)`
    case "ERR_MODULE_NOT_FOUND":
      return /'dtq'/.test(message) ? `${message} (install dtq in the module's project: npm install dtq)` : message
    default:
      return message
  }
}

/** The tasks a loaded module exports. */
export const tasksOf = (module: Record<string, unknown>, file = "the module"): Map<string, LoadedTask> => {
  const fallback = module.default as { tasks?: unknown } | undefined
  const exported = module.tasks ?? (typeof fallback === "object" && fallback !== null && "tasks" in fallback && !isTaskDefinition(fallback) ? fallback.tasks : fallback)
  const entries: Array<[string | undefined, unknown]> =
    isTaskDefinition(exported) ? [[undefined, exported]]
    : Array.isArray(exported) ? exported.map((value) => [undefined, value])
    : typeof exported === "object" && exported !== null ? Object.entries(exported)
    // No `tasks` and no default: every exported definition.
    : Object.values(module).filter(isTaskDefinition).map((value) => [undefined, value])
  if (entries.length === 0) throw new TaskModuleError(`--tasks: ${file} exports no tasks (export \`tasks\`: an array of defineTask(...) definitions)`)
  const tasks = new Map<string, LoadedTask>()
  for (const [key, value] of entries) {
    const task = toTask(key, value, file)
    if (tasks.has(task.name)) throw new TaskModuleError(`--tasks: ${file} defines task ${task.name} twice`)
    tasks.set(task.name, task)
  }
  return tasks
}

const toTask = (key: string | undefined, value: unknown, file: string): LoadedTask => {
  if (isTaskDefinition(value)) {
    if (key !== undefined && key !== value.name) throw new TaskModuleError(`--tasks: ${file} exports task ${value.name} under the key ${key}; use its name`)
    return { name: value.name, handler: definitionHandler(value), definition: value }
  }
  const where = key === undefined ? "an entry" : `task ${key}`
  const handler = typeof value === "function" ? value : (value as { handler?: unknown } | null)?.handler
  if (key === undefined) throw new TaskModuleError(`--tasks: ${where} in ${file} is not a task definition (use defineTask)`)
  if (typeof handler !== "function") throw new TaskModuleError(`--tasks: ${where} in ${file} has no handler function`)
  const problem = taskNameProblem(key)
  if (problem !== undefined) throw new TaskModuleError(`--tasks: ${problem}`)
  return { name: key, handler: handler as TaskHandler }
}
