// Random ids and keys for io-keygen (§9.4). Standard base64 of 3, 15 and 30 bytes has no padding and never "." or ",",
// so the values fit "id.key" strings and -e lists.
import { randomBytes } from 'node:crypto';

export type RandomSource = (size: number) => Buffer;

export interface KeygenValues {
  /** base64 of 3 bytes: 4 characters. */
  id: string;
  /** base64 of 15 bytes: 20 characters. */
  key: string;
  idKey: string;
  digits4: string;
  digits8: string;
  /** base64 of 30 bytes: 40 characters. */
  b64L40: string;
}

const MIN_DIGIT_SOURCE = 2n ** 44n;
const BORDER = `+${'-'.repeat(52)}+`;

export function generateKeygenValues(random: RandomSource = randomBytes): KeygenValues {
  const id = random(3).toString('base64');
  const key = random(15).toString('base64');
  return {
    id,
    key,
    idKey: `${id}.${key}`,
    digits4: randomDigits(4, random),
    digits8: randomDigits(8, random),
    b64L40: random(30).toString('base64'),
  };
}

/**
 * `count` (≤ 13) decimal digits from a random 64-bit value of at least 2^44 (so 14 digits or more) whose second
 * digit is not 0. The first digit is skipped because it is not uniform; the rule means no leading zero.
 */
export function randomDigits(count: number, random: RandomSource = randomBytes): string {
  for (;;) {
    const value = random(8).readBigUInt64BE();
    const digits = value.toString();
    if (value >= MIN_DIGIT_SOURCE && digits[1] !== '0') return digits.slice(1, 1 + count);
  }
}

/** The box io-keygen prints, with the blank lines before and after. */
export function formatKeygenBox(values: KeygenValues): string {
  const lines = [
    '',
    ' random values',
    BORDER,
    `| ID: ${values.id}  KEY L20: ${values.key}`,
    BORDER,
    `| ID_KEY:  ${values.idKey}`,
    BORDER,
    `| numbers:  ${values.digits4} ${values.digits8}`,
    BORDER,
    `| b64_L40:  ${values.b64L40}`,
    BORDER,
    '',
  ];
  return `${lines.join('\n')}\n`;
}
