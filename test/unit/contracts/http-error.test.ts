// The one error envelope: built by every server, read by every client (contracts/http-error.ts).
import { describe, expect, it } from 'vitest'
import { errorBody, parseErrorBody } from '../../../ts/contracts/http-error.js'

describe('error envelope', () => {
  it('round-trips through JSON with the message on one line', () => {
    const body = errorBody('EUSAGE', 'pk: bad\n   second line')
    expect(body).toEqual({ error: { code: 'EUSAGE', message: 'pk: bad second line' } })
    expect(parseErrorBody(JSON.stringify(body))).toEqual({ code: 'EUSAGE', message: 'pk: bad second line' })
    expect(parseErrorBody(body)).toEqual({ code: 'EUSAGE', message: 'pk: bad second line' })
  })

  it("reads the services' snake_case codes as they are (their public API keeps them)", () => {
    expect(parseErrorBody('{"error":{"code":"bad_request","message":"body: x"}}')).toEqual({ code: 'bad_request', message: 'body: x' })
  })

  it('gives nulls for what is not an envelope: HTML, empty, null, wrong types', () => {
    for (const b of ['<html>502</html>', '', 'null', null, undefined, 42, { error: 'x' }, { error: { code: 1, message: [] } }]) {
      expect(parseErrorBody(b)).toEqual({ code: null, message: null })
    }
    expect(parseErrorBody({ error: { code: 'ENOTFOUND' } })).toEqual({ code: 'ENOTFOUND', message: null })
  })
})
