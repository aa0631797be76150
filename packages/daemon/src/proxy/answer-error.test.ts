import { describe, expect, it } from 'vitest';
import { PipcacheError } from '@pipcache/shared';
import { errorAnswer } from './answer-error.js';

describe('errorAnswer', () => {
  it('takes the status from the error table', () => {
    expect(errorAnswer(new PipcacheError('E_INTERNAL', 'internal error'))).toMatchObject({ status: 500, text: 'pipcache: internal error' });
    expect(errorAnswer(new PipcacheError('E_METHOD_NOT_ALLOWED', 'read-only')).status).toBe(405);
    expect(errorAnswer(new PipcacheError('E_NOT_ACCEPTABLE', 'no format')).status).toBe(406);
  });

  it('answers a refusal per kind of request', () => {
    const offline = new PipcacheError('E_OFFLINE_MISS', 'offline');
    expect(errorAnswer(offline, { kind: 'page' }).status).toBe(404);
    expect(errorAnswer(offline, { kind: 'file' }).status).toBe(503);
    expect(errorAnswer(offline, { kind: 'tunnel' }).status).toBe(403);
  });

  it('relays an upstream status when given', () => {
    expect(errorAnswer(new PipcacheError('E_UPSTREAM', 'upstream answered 404'), { status: 404 }).status).toBe(404);
  });

  it('codes an uncoded error as an upstream failure', () => {
    const answer = errorAnswer(new Error('ECONNRESET'));
    expect(answer.error.code).toBe('E_UPSTREAM');
    expect(answer.status).toBe(502);
  });

  it('asks for credentials as a proxy (407) or as the index itself (401)', () => {
    const auth = new PipcacheError('E_AUTH_REQUIRED', 'credentials required');
    expect(errorAnswer(auth)).toMatchObject({ status: 407, headers: { 'Proxy-Authenticate': 'Basic realm="pipcache"' } });
    expect(errorAnswer(auth, { direct: true })).toMatchObject({ status: 401, headers: { 'WWW-Authenticate': 'Basic realm="pipcache"' } });
  });
});

describe('the X-Pipcache value of an error answer', () => {
  it('names refusals, offline misses and errors', () => {
    expect(errorAnswer(new PipcacheError('E_AUTH_REQUIRED', 'credentials required')).headers['x-pipcache']).toBe('refused');
    expect(errorAnswer(new PipcacheError('E_CLIENT_REFUSED', 'not allowed')).headers['x-pipcache']).toBe('refused');
    expect(errorAnswer(new PipcacheError('E_OFFLINE_MISS', 'offline'), { kind: 'file' }).headers['x-pipcache']).toBe('offline');
    expect(errorAnswer(new PipcacheError('E_UPSTREAM', 'reset')).headers['x-pipcache']).toBe('error');
  });
});
