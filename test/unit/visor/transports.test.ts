/**
 * dialTransport decides "offline" from error codes, never from messages: a
 * fake node (our own interface, in memory) fails its dials with chosen codes.
 */
import { describe, expect, it } from 'vitest'
import type { ServicesClient } from '../../../ts/discovery/client.js'
import { SkywireError, type ErrorCode } from '../../../ts/errors.js'
import type { Node } from '../../../ts/visor/core-node.js'
import { dialTransport } from '../../../ts/visor/transports.js'

const PK = 'ab'.repeat(32)

function failingNode(code: ErrorCode, message: string): Node {
  const fake = {
    sudphAddr: null,
    observedAddr: null,
    dial: async () => {
      throw new SkywireError(code, message)
    },
  }
  return fake as unknown as Node
}

/** A resolver that knows no TCP address for anyone. */
const noStcpr = { resolve: async () => null } as unknown as ServicesClient

async function failure(node: Node, order: ('stcpr' | 'sudph')[]): Promise<SkywireError> {
  const err = await dialTransport(node, noStcpr, PK, order, Date.now() + 5000).catch((e: unknown) => e)
  expect(err).toBeInstanceOf(SkywireError)
  return err as SkywireError
}

describe('dialTransport', () => {
  it('a peer not bound at the resolver and without TCP addresses is offline', async () => {
    const err = await failure(failingNode('ENOTBOUND', 'unreachable: whatever the core says'), ['sudph', 'stcpr'])
    expect(err.code).toBe('EOFFLINE')
  })

  it('a failed handshake is unreachable, even when its message mentions being offline', async () => {
    const err = await failure(failingNode('EHANDSHAKE', 'the peer is not bound (offline?)'), ['sudph'])
    expect(err.code).toBe('EUNREACHABLE')
  })

  it('no TCP address alone is offline', async () => {
    const err = await failure(failingNode('EHANDSHAKE', 'never called'), ['stcpr'])
    expect(err.code).toBe('EOFFLINE')
  })
})
