/**
 * The Rust addon, loaded through the loader napi-rs generates (a local
 * `.node` file in development, the matching `npm/<platform>` package when
 * installed). Errors thrown by the addon carry a code from the shared table
 * (ts/contracts/error-codes.json) as a fixed prefix (`EINVALIDPK: ...`);
 * `fromNativeError` turns that into a SkywireError, and callers switch on its
 * `code`, never on the message.
 */
import { createRequire } from 'node:module'
import { ERROR_CODES, type ErrorCode } from './contracts/error-codes.js'
import { SkywireError } from './errors.js'
import type * as Binding from '../native/index.js'

const require = createRequire(import.meta.url)

export type NativeBinding = typeof Binding

// The generated loader is CommonJS; the types come from its generated .d.ts.
export const native: NativeBinding = require('../native/index.js') as NativeBinding

const NATIVE_CODE = /^(E[A-Z]+): (.*)$/s
const KNOWN = new Set<string>(ERROR_CODES)

const isErrorCode = (s: string): s is ErrorCode => KNOWN.has(s)

export function fromNativeError(err: unknown): unknown {
  if (err instanceof Error) {
    const m = NATIVE_CODE.exec(err.message)
    const code = m?.[1]
    if (code !== undefined && isErrorCode(code)) return new SkywireError(code, m?.[2] ?? err.message, { cause: err })
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
