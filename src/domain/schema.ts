// The one place Schema is imported from: it switches on Schema's JIT compiler before any schema is
// built, so every decoder in dtq is compiled (events are decoded on the hot path).
import "effect/schema/SchemaJITCompiler/enable"
export { Schema } from "effect"
