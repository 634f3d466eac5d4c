import { describe, it, expect } from 'vitest';
import {
  PASSWORD_ENTIRELY_NUMERIC_MESSAGE,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MISMATCH_MESSAGE,
  PASSWORD_TOO_COMMON_MESSAGE,
  PASSWORD_TOO_SHORT_MESSAGE,
  PASSWORD_TOO_SIMILAR_MESSAGE,
  commonPasswordCount,
  exceedsMaximumLengthRatio,
  isCommonPassword,
  isEntirelyNumeric,
  isTooSimilar,
  quickRatio,
  validatePassword,
} from '../../src/lib/server/auth/password-rules.ts';

describe('Django messages', () => {
  it('are word for word', () => {
    expect(PASSWORD_TOO_SIMILAR_MESSAGE).toBe('The password is too similar to the username.');
    expect(PASSWORD_TOO_SHORT_MESSAGE).toBe(
      'This password is too short. It must contain at least 8 characters.',
    );
    expect(PASSWORD_TOO_COMMON_MESSAGE).toBe('This password is too common.');
    expect(PASSWORD_ENTIRELY_NUMERIC_MESSAGE).toBe('This password is entirely numeric.');
    // U+2019 RIGHT SINGLE QUOTATION MARK, as in Django since 3.0.
    expect(PASSWORD_MISMATCH_MESSAGE).toBe('The two password fields didn\u2019t match.');
  });
});

describe('quickRatio (difflib.SequenceMatcher.quick_ratio)', () => {
  // Expected values printed by CPython 3.11's difflib for the same inputs.
  const cases: [string, string, number][] = [
    ['testclient', 'testclient', 1.0],
    ['testclient', 'test', 0.5714285714285714],
    ['example.com', 'example', 0.7777777777777778],
    ['abcdef', 'fedcba', 1.0],
    ['', '', 1.0],
    ['abc', '', 0.0],
    ['aab', 'abb', 0.6666666666666666],
    ['pässwörd', 'passwort', 0.625],
    ['x'.repeat(250) + 'y', 'x'.repeat(220), 0.9341825902335457],
    // Code points, not UTF-16 units: each emoji is one element.
    ['😀😀ab', '😀b', 0.6666666666666666],
    ['i\u0307stanbul', 'istanbul', 0.9411764705882353],
  ];
  it.each(cases)('quick_ratio(%j, %j) = %d', (a, b, expected) => {
    expect(quickRatio(a, b)).toBe(expected);
  });

  it('is not affected by autojunk (popular elements in a long b)', () => {
    // With 200+ elements SequenceMatcher marks 'x' as junk for ratio(), not for quick_ratio().
    expect(quickRatio('x'.repeat(10), 'x'.repeat(300))).toBe(20 / 310);
  });
});

describe('exceedsMaximumLengthRatio', () => {
  it('skips values at most a tenth of the password and under max_similarity/2 of it', () => {
    expect(exceedsMaximumLengthRatio('aaaaaaaaaa', 0.7, 'a')).toBe(true);
    expect(exceedsMaximumLengthRatio('aaaaaaaaa', 0.7, 'a')).toBe(false);
    expect(exceedsMaximumLengthRatio('a'.repeat(20), 0.7, 'ab')).toBe(true);
    expect(exceedsMaximumLengthRatio('a'.repeat(19), 0.7, 'ab')).toBe(false);
    // An empty part (from a leading/trailing separator) is skipped for any non-empty password.
    expect(exceedsMaximumLengthRatio('a', 0.7, '')).toBe(true);
    expect(exceedsMaximumLengthRatio('', 0.7, '')).toBe(false);
    // With a high max_similarity the second condition can fail even at ratio 10.
    expect(exceedsMaximumLengthRatio('a'.repeat(10), 0.1, 'a')).toBe(false);
  });

  it('never changes the outcome at 0.7 (skipped pairs are far below the threshold)', () => {
    expect(quickRatio('aaaaaaaaaa', 'a')).toBeLessThan(0.7);
    expect(isTooSimilar('aaaaaaaaaa', 'a')).toBe(false);
    expect(isTooSimilar('aaaaaaaaa', 'a')).toBe(false);
  });
});

describe('UserAttributeSimilarityValidator', () => {
  // From Django's auth_tests.test_validators.UserAttributeSimilarityValidatorTest.
  it('rejects the username itself', () => {
    expect(isTooSimilar('testclient', 'testclient')).toBe(true);
    expect(validatePassword('testclient', { username: 'testclient' })).toEqual([
      PASSWORD_TOO_SIMILAR_MESSAGE,
    ]);
  });

  it('compares each \\W+-separated part as well as the whole value', () => {
    // Django: validate("example.com") fails against email "testclient@example.com".
    expect(isTooSimilar('example.com', 'testclient@example.com')).toBe(true);
    expect(quickRatio('example.com', 'testclient@example.com')).toBeLessThan(0.7);
  });

  it('honours max_similarity like Django (first name "Test", 0.3 and 1.0)', () => {
    expect(isTooSimilar('testclient', 'Test', 0.3)).toBe(true);
    expect(isTooSimilar('Test', 'Test', 1)).toBe(true);
    expect(isTooSimilar('testclient', 'Test')).toBe(false);
  });

  it('ignores case on both sides', () => {
    expect(isTooSimilar('TESTCLIENT', 'TestClient')).toBe(true);
  });

  it('accepts a long random password', () => {
    expect(isTooSimilar('q7Zp!x9L#mW2rT$k', 'testclient')).toBe(false);
    expect(validatePassword('q7Zp!x9L#mW2rT$k', { username: 'testclient' })).toEqual([]);
  });

  it('is skipped when there is no username', () => {
    expect(validatePassword('testclient', {})).toEqual([]);
    expect(validatePassword('testclient', { username: null })).toEqual([]);
    expect(validatePassword('testclient', { username: '' })).toEqual([]);
  });
});

describe('MinimumLengthValidator', () => {
  it('needs 8 characters', () => {
    expect(validatePassword('1234567')).toContain(PASSWORD_TOO_SHORT_MESSAGE);
    expect(validatePassword('a-b-c-d')).toEqual([PASSWORD_TOO_SHORT_MESSAGE]);
    expect(validatePassword('a-b-c-de')).toEqual([]);
  });

  it('counts code points as Python len() does', () => {
    // 4 emoji are 8 UTF-16 units but only 4 characters.
    expect(validatePassword('😀😁😂🤣')).toEqual([PASSWORD_TOO_SHORT_MESSAGE]);
    expect(validatePassword('😀😁😂🤣😃😄😅😆')).toEqual([]);
  });
});

describe('CommonPasswordValidator', () => {
  it('has a list of at least 20,000 passwords', () => {
    expect(commonPasswordCount()).toBeGreaterThanOrEqual(20_000);
  });

  it('rejects common passwords, compared as password.lower().strip()', () => {
    for (const password of ['password', 'PASSWORD ', '  Password\t', 'qwerty123', 'godzilla']) {
      expect(isCommonPassword(password), password).toBe(true);
    }
    expect(validatePassword('godzilla')).toEqual([PASSWORD_TOO_COMMON_MESSAGE]);
    expect(validatePassword('PASSWORD ')).toEqual([PASSWORD_TOO_COMMON_MESSAGE]);
  });

  it('accepts uncommon ones', () => {
    expect(isCommonPassword('correct horse battery staple 9')).toBe(false);
    expect(isCommonPassword('a-safe-password')).toBe(false);
    expect(validatePassword('correct horse battery staple 9')).toEqual([]);
  });
});

describe('NumericPasswordValidator', () => {
  it('rejects entirely numeric passwords', () => {
    expect(validatePassword('42424242')).toEqual([PASSWORD_ENTIRELY_NUMERIC_MESSAGE]);
    expect(isEntirelyNumeric('12345678')).toBe(true);
  });

  it('uses str.isdigit(): Unicode digits count, fractions and letters do not', () => {
    expect(isEntirelyNumeric('١٢٣٤٥٦٧٨')).toBe(true); // Arabic-Indic
    expect(validatePassword('١٢٣٤٥٦٧٨')).toEqual([PASSWORD_ENTIRELY_NUMERIC_MESSAGE]);
    expect(isEntirelyNumeric('１２３４５６７８')).toBe(true); // full-width
    expect(isEntirelyNumeric('²³¹⁴①②𝟗')).toBe(true); // Numeric_Type=Digit and math digits
    expect(isEntirelyNumeric('½')).toBe(false);
    expect(isEntirelyNumeric('一二三')).toBe(false);
    expect(isEntirelyNumeric('1234567a')).toBe(false);
    expect(isEntirelyNumeric('')).toBe(false);
    expect(isEntirelyNumeric(' 12345678')).toBe(false);
  });
});

describe('validatePassword', () => {
  it("reports every failure in Django's order", () => {
    // Too similar to "1234567", too short, common and numeric at once.
    expect(validatePassword('1234567', { username: '1234567' })).toEqual([
      PASSWORD_TOO_SIMILAR_MESSAGE,
      PASSWORD_TOO_SHORT_MESSAGE,
      PASSWORD_TOO_COMMON_MESSAGE,
      PASSWORD_ENTIRELY_NUMERIC_MESSAGE,
    ]);
    expect(validatePassword('password', { username: 'password' })).toEqual([
      PASSWORD_TOO_SIMILAR_MESSAGE,
      PASSWORD_TOO_COMMON_MESSAGE,
    ]);
  });

  it('accepts a good password', () => {
    expect(validatePassword('sufficiently-long', { username: 'alice' })).toEqual([]);
  });

  it('refuses passwords over 1024 characters before anything else', () => {
    expect(PASSWORD_MAX_LENGTH).toBe(1024);
    expect(validatePassword('a'.repeat(1024), { username: 'alice' })).toEqual([]);
    expect(validatePassword('1'.repeat(1025), { username: '1'.repeat(150) })).toEqual([
      'Ensure this value has at most 1024 characters (it has 1025).',
    ]);
    // Counted in code points: 1025 emoji are 2050 UTF-16 units.
    expect(validatePassword('😀'.repeat(1025))).toEqual([
      'Ensure this value has at most 1024 characters (it has 1025).',
    ]);
    expect(validatePassword('😀'.repeat(1024))).toEqual([]);
  });
});
