import { describe, expect, it } from 'vitest';
import { loggedPath } from '../../src/lib/server/node-server.ts';

describe('the path a request log line keeps', () => {
  it('drops the query string', () => {
    expect(loggedPath('/?q=private+thing')).toBe('/');
    expect(loggedPath('/login/?next=%2Finvite%2Fsecret')).toBe('/login/');
  });

  it('keeps no invite secret, with or without a trailing slash', () => {
    const secret = 'A'.repeat(43);
    expect(loggedPath(`/invite/${secret}`)).toBe('/invite/…');
    expect(loggedPath(`/invite/${secret}/?x=1`)).toBe('/invite/…/');
  });

  it('leaves every other path alone', () => {
    expect(loggedPath('/inventories/5/members')).toBe('/inventories/5/members');
    expect(loggedPath('/invited/x')).toBe('/invited/x');
  });
});
