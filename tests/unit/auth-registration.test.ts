import { describe, it, expect } from 'vitest';
import { z } from 'zod';
import {
  loginSchema,
  parseLoginForm,
  parseRegistrationForm,
  registrationSchema,
} from '../../src/lib/server/auth/registration.ts';
import { fieldErrors } from '../../src/lib/contracts/field-errors.ts';

const REQUIRED = 'This field is required.';
const MISMATCH = 'The two password fields didn\u2019t match.';
const TOO_SIMILAR = 'The password is too similar to the username.';
const TOO_SHORT = 'This password is too short. It must contain at least 8 characters.';
const TOO_COMMON = 'This password is too common.';
const NUMERIC = 'This password is entirely numeric.';
const INVALID_USERNAME =
  'Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.';

function form(username: string, password1: string, password2: string = password1) {
  return { username, password1, password2 };
}

describe('registrationSchema', () => {
  it('accepts a valid form and normalizes the username', () => {
    const result = registrationSchema.safeParse(form('  ｊｓｍｉｔｈ ', 'sufficiently-long'));
    expect(result.success).toBe(true);
    expect(result.data).toEqual({ username: 'jsmith', password: 'sufficiently-long' });
  });

  it('keeps password whitespace (strip=False)', () => {
    expect(parseRegistrationForm(form('jsmith', ' testpassword '))).toEqual({
      success: true,
      data: { username: 'jsmith', password: ' testpassword ' },
    });
  });

  it('accepts Unicode usernames (Django test_unicode_username)', () => {
    expect(parseRegistrationForm(form('宝', 'sufficiently-long'))).toMatchObject({
      success: true,
      data: { username: '宝' },
    });
  });

  it('requires every field, also when missing or not text', () => {
    expect(parseRegistrationForm({})).toEqual({
      success: false,
      errors: { username: [REQUIRED], password1: [REQUIRED], password2: [REQUIRED] },
    });
    const data = new FormData();
    data.set('username', 'jsmith');
    data.set('password1', new Blob(['x']));
    expect(parseRegistrationForm(Object.fromEntries(data))).toEqual({
      success: false,
      errors: { password1: [REQUIRED], password2: [REQUIRED] },
    });
  });

  it('puts a password mismatch on password2 and skips the strength rules', () => {
    // Django test_password_verification.
    expect(parseRegistrationForm(form('jsmith', 'test123', 'test'))).toEqual({
      success: false,
      errors: { password2: [MISMATCH] },
    });
  });

  it('puts every strength message on password2, compared with the username', () => {
    // Django test_validates_password: username "testclient", password "testclient".
    expect(parseRegistrationForm(form('testclient', 'testclient'))).toEqual({
      success: false,
      errors: { password2: [TOO_SIMILAR] },
    });
    expect(parseRegistrationForm(form('jsmith', '1234567'))).toEqual({
      success: false,
      errors: { password2: [TOO_SHORT, TOO_COMMON, NUMERIC] },
    });
  });

  it('compares against the normalized username', () => {
    expect(parseRegistrationForm(form('ＴＥＳＴＣＬＩＥＮＴ', 'testclient'))).toEqual({
      success: false,
      errors: { password2: [TOO_SIMILAR] },
    });
  });

  it('reports every field at once', () => {
    expect(parseRegistrationForm(form('jsmith!', 'password', 'password'))).toEqual({
      success: false,
      errors: { username: [INVALID_USERNAME], password2: [TOO_COMMON] },
    });
    // Like Django, a username that fails the pattern is still on the user for the similarity rule.
    expect(parseRegistrationForm(form('jsmith!', 'jsmith!!'))).toEqual({
      success: false,
      errors: { username: [INVALID_USERNAME], password2: [TOO_SIMILAR] },
    });
  });

  it('skips the similarity rule when the username field was rejected', () => {
    const long = 'a'.repeat(151);
    expect(parseRegistrationForm(form(long, long.slice(0, 150)))).toEqual({
      success: false,
      errors: { username: ['Ensure this value has at most 150 characters (it has 151).'] },
    });
  });

  it('runs the strength rules on password2 when password1 is missing', () => {
    expect(parseRegistrationForm(form('jsmith', '', 'password'))).toEqual({
      success: false,
      errors: { password1: [REQUIRED], password2: [TOO_COMMON] },
    });
  });

  it('caps passwords at 1024 characters before any other check', () => {
    const huge = '1'.repeat(5000);
    expect(parseRegistrationForm(form('jsmith', huge))).toEqual({
      success: false,
      errors: {
        password1: ['Ensure this value has at most 1024 characters (it has 5000).'],
        password2: ['Ensure this value has at most 1024 characters (it has 5000).'],
      },
    });
  });

  it('refuses NUL characters in passwords', () => {
    expect(parseRegistrationForm(form('jsmith', 'long\0enough'))).toEqual({
      success: false,
      errors: {
        password1: ['Null characters are not allowed.'],
        password2: ['Null characters are not allowed.'],
      },
    });
  });

  it('reports issues with their field as path', () => {
    const result = registrationSchema.safeParse(form('', 'abc', 'abd'));
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => [issue.path, issue.message])).toEqual([
      [['username'], REQUIRED],
      [['password2'], MISMATCH],
    ]);
  });
});

describe('fieldErrors', () => {
  it('groups messages by field in order and puts path-less issues under _form', () => {
    const result = registrationSchema.safeParse(form('bad name', '1234567'));
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(fieldErrors(result.error)).toEqual({
      username: [INVALID_USERNAME],
      password2: [TOO_SHORT, TOO_COMMON, NUMERIC],
    });
    const notObject = registrationSchema.safeParse('nope');
    expect(notObject.success).toBe(false);
    if (notObject.success) return;
    expect(Object.keys(fieldErrors(notObject.error))).toEqual(['_form']);
  });

  it('works for any zod error', () => {
    const schema = z.object({ a: z.string().min(2, 'short'), b: z.number() });
    const result = schema.safeParse({ a: 'x', b: 'y' });
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(fieldErrors(result.error)).toMatchObject({ a: ['short'] });
    expect(fieldErrors(result.error).b).toHaveLength(1);
  });
});

describe('loginSchema', () => {
  it('normalizes the username and keeps the password as typed', () => {
    expect(loginSchema.parse({ username: ' Ａｌｉｃｅ ', password: ' pw ' })).toEqual({
      username: 'Alice',
      password: ' pw ',
    });
  });

  it('does not apply the strength rules', () => {
    expect(parseLoginForm({ username: 'alice', password: '1' })).toEqual({
      success: true,
      data: { username: 'alice', password: '1' },
    });
  });

  it('requires both fields', () => {
    expect(parseLoginForm({ username: '  ', password: '' })).toEqual({
      success: false,
      errors: { username: [REQUIRED], password: [REQUIRED] },
    });
    expect(parseLoginForm(null)).toMatchObject({ success: false });
  });

  it('caps both fields', () => {
    expect(parseLoginForm({ username: 'a'.repeat(151), password: 'x'.repeat(1025) })).toEqual({
      success: false,
      errors: {
        username: ['Ensure this value has at most 150 characters (it has 151).'],
        password: ['Ensure this value has at most 1024 characters (it has 1025).'],
      },
    });
    expect(parseLoginForm({ username: 'a'.repeat(150), password: 'x'.repeat(1024) })).toMatchObject(
      { success: true },
    );
  });
});
