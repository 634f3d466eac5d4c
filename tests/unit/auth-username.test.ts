import { describe, it, expect } from 'vitest';
import {
  INVALID_USERNAME_MESSAGE,
  REQUIRED_MESSAGE,
  USERNAME_TAKEN_MESSAGE,
  checkUsername,
  codePointLength,
  isValidUsernameSyntax,
  normalizeUsername,
  pyStrip,
  usernameKey,
} from '../../src/lib/server/auth/username.ts';

describe('messages', () => {
  it("are Django's", () => {
    expect(REQUIRED_MESSAGE).toBe('This field is required.');
    expect(INVALID_USERNAME_MESSAGE).toBe(
      'Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.',
    );
    expect(USERNAME_TAKEN_MESSAGE).toBe('A user with that username already exists.');
  });
});

describe('normalizeUsername (NFKC)', () => {
  it('folds compatibility forms', () => {
    expect(normalizeUsername('ｆｕｌｌ')).toBe('full');
    // Django's test_normalize_username: OHM SIGN becomes GREEK CAPITAL LETTER OMEGA.
    expect(normalizeUsername('test\u2126')).toBe('test\u03a9');
    expect(normalizeUsername('ﬁle')).toBe('file');
    expect(normalizeUsername('e\u0301')).toBe('é');
  });
});

describe('usernameKey', () => {
  it('makes case and compatibility variants clash', () => {
    expect(usernameKey('Alice')).toBe(usernameKey('alice'));
    expect(usernameKey('ＡＬＩＣＥ')).toBe('alice');
    expect(usernameKey('iamthe\u2126')).toBe(usernameKey('iamthe\u03a9'));
    expect(usernameKey('ÉMILE')).toBe(usernameKey('e\u0301mile'));
  });

  it('keeps different names apart and is idempotent', () => {
    expect(usernameKey('alice')).not.toBe(usernameKey('alice2'));
    for (const name of ['Alice', 'İstanbul', 'ΟΔΟΣ', 'Straße', 'ｆｕｌｌ']) {
      expect(usernameKey(usernameKey(name))).toBe(usernameKey(name));
    }
  });

  it('lower-cases rather than case-folds (ß stays ß, like Python lower())', () => {
    expect(usernameKey('STRASSE')).toBe('strasse');
    expect(usernameKey('Straße')).toBe('straße');
  });
});

describe('pyStrip', () => {
  it("strips what Python's str.strip() strips", () => {
    expect(pyStrip(' \t\n alice \u3000\u00a0')).toBe('alice');
    expect(pyStrip('\u001calice\u0085')).toBe('alice');
    // U+FEFF is not whitespace for Python (JavaScript's trim() would remove it).
    expect(pyStrip('\ufeffalice')).toBe('\ufeffalice');
  });
});

describe('codePointLength', () => {
  it('counts code points', () => {
    expect(codePointLength('abc')).toBe(3);
    expect(codePointLength('😀')).toBe(1);
    expect(codePointLength('a\ud800b')).toBe(3);
  });
});

describe('UnicodeUsernameValidator pattern', () => {
  it('accepts letters, digits (Unicode too) and @ . + - _', () => {
    for (const name of ['alice', 'a.b@c+d-e_f', '宝', 'Zoë', 'Пётр', 'user١٢٣', 'x²', 'René_1']) {
      expect(isValidUsernameSyntax(name), name).toBe(true);
    }
  });

  it('refuses anything else', () => {
    for (const name of [
      'jsmith!',
      'has space',
      'tab\there',
      'semi;colon',
      'trailing\n',
      'a/b',
      '',
    ]) {
      expect(isValidUsernameSyntax(name), JSON.stringify(name)).toBe(false);
    }
    // A bare combining mark is not in Python's \w.
    expect(isValidUsernameSyntax('a\u0301')).toBe(false);
  });
});

describe('checkUsername', () => {
  it('requires a value, after stripping', () => {
    expect(checkUsername('')).toEqual({ ok: false, errors: [REQUIRED_MESSAGE], username: null });
    expect(checkUsername('   \t')).toEqual({
      ok: false,
      errors: [REQUIRED_MESSAGE],
      username: null,
    });
  });

  it('strips and normalizes', () => {
    expect(checkUsername('  ｆｕｌｌ ')).toEqual({ ok: true, username: 'full' });
    expect(checkUsername('宝')).toEqual({ ok: true, username: '宝' });
  });

  it('refuses spaces and "!" with Django\'s message', () => {
    expect(checkUsername('jsmith!')).toEqual({
      ok: false,
      errors: [INVALID_USERNAME_MESSAGE],
      username: 'jsmith!',
    });
    expect(checkUsername('john smith')).toMatchObject({ errors: [INVALID_USERNAME_MESSAGE] });
  });

  it('allows 150 characters and refuses 151', () => {
    expect(checkUsername('a'.repeat(150))).toEqual({ ok: true, username: 'a'.repeat(150) });
    expect(checkUsername('a'.repeat(151))).toEqual({
      ok: false,
      errors: ['Ensure this value has at most 150 characters (it has 151).'],
      username: null,
    });
    // Code points: 150 emoji-free astral letters are fine.
    expect(checkUsername('𝐀'.repeat(150))).toMatchObject({ ok: true });
  });

  it('reports only the length when a long name also has bad characters, as Django does', () => {
    expect(checkUsername('!'.repeat(151))).toMatchObject({
      errors: ['Ensure this value has at most 150 characters (it has 151).'],
    });
  });

  it('measures after NFKC, which can lengthen a name', () => {
    // U+FDFA expands to 18 characters under NFKC.
    const name = 'a'.repeat(140) + '\ufdfa';
    expect(checkUsername(name)).toMatchObject({
      ok: false,
      errors: ['Ensure this value has at most 150 characters (it has 158).'],
    });
  });

  it('refuses NUL characters with the form field message', () => {
    expect(checkUsername('ab\0c')).toEqual({
      ok: false,
      errors: ['Null characters are not allowed.'],
      username: null,
    });
  });
});
