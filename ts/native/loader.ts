/**
 * The Rust addon, loaded through the loader napi-rs generates (a local
 * `.node` file in development, the matching `npm/<platform>` package when
 * installed). Errors thrown by the addon carry the core's code as a prefix
 * (`EINVALIDPK: ...`); `fromNativeError` turns that into a SkywireError.
 */
import { createRequire } from 'node:module'
import { SkywireError, type ErrorCode } from '../contracts/errors.js'
import type * as Binding from '../../native/index.js'

const require = createRequire(import.meta.url)

export type NativeBinding = typeof Binding

// The generated loader is CommonJS; the types come from its generated .d.ts.
export const native: NativeBinding = require('../../native/index.js') as NativeBinding

const NATIVE_CODE = /^(E[A-Z]+): (.*)$/s

export function fromNativeError(err: unknown): unknown {
  if (err instanceof Error) {
    const m = NATIVE_CODE.exec(err.message)
    if (m) return new SkywireError(m[1] as ErrorCode, m[2] ?? err.message, { cause: err })
  }
  return err
}

/** Call into the addon, converting its coded errors to SkywireError. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw fromNativeError(err)
  }
}
