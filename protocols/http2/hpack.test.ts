import { HpackDecoder, HUFFMAN_CODES, huffmanDecode, STATIC_TABLE } from './hpack';
import { hex, hpackBlock, huffmanEncode } from './testkit';

function headers(d: HpackDecoder): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < d.count; i++) out.push([d.names[i], d.values[i]]);
  return out;
}

function table(d: HpackDecoder): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < d.tableLength; i++) out.push(d.dynamicEntry(i)!);
  return out;
}

function decode(d: HpackDecoder, block: Buffer): string {
  return d.decode(block, 0, block.length);
}

describe('HPACK static data', () => {
  it('has the 61 static entries of Appendix A', () => {
    expect(STATIC_TABLE).toHaveLength(61);
    expect(STATIC_TABLE[0]).toEqual([':authority', '']);
    expect(STATIC_TABLE[7]).toEqual([':status', '200']);
    expect(STATIC_TABLE[30]).toEqual(['content-type', '']);
    expect(STATIC_TABLE[60]).toEqual(['www-authenticate', '']);
  });

  it('has a Huffman table that is the canonical code of its lengths, complete (Kraft sum 1)', () => {
    expect(HUFFMAN_CODES).toHaveLength(257 * 2);
    // RFC 7541 Appendix B is a canonical Huffman code: ordered by (length, symbol),
    // each code is the previous one plus one, shifted left when the length grows.
    const syms = Array.from({ length: 257 }, (_, s) => s).sort((a, b) => HUFFMAN_CODES[a * 2 + 1] - HUFFMAN_CODES[b * 2 + 1] || a - b);
    let code = 0;
    let len = HUFFMAN_CODES[syms[0] * 2 + 1];
    let kraft = 0;
    for (let i = 0; i < syms.length; i++) {
      const l = HUFFMAN_CODES[syms[i] * 2 + 1];
      if (i > 0) code = (code + 1) * 2 ** (l - len);
      len = l;
      expect([syms[i], HUFFMAN_CODES[syms[i] * 2]]).toEqual([syms[i], code]);
      kraft += 2 ** -l;
    }
    expect(kraft).toBe(1);
    // Spot checks against the appendix: '/' is 011000, 'a' is 00011, EOS is thirty ones.
    expect([HUFFMAN_CODES[47 * 2], HUFFMAN_CODES[47 * 2 + 1]]).toEqual([0x18, 6]);
    expect([HUFFMAN_CODES[97 * 2], HUFFMAN_CODES[97 * 2 + 1]]).toEqual([0x3, 5]);
    expect([HUFFMAN_CODES[256 * 2], HUFFMAN_CODES[256 * 2 + 1]]).toEqual([0x3fffffff, 30]);
  });

  it('Huffman-decodes every octet value and rejects EOS and bad padding', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const enc = huffmanEncode(all.toString('latin1'));
    const out = new Uint8Array(512);
    const n = huffmanDecode(enc, 0, enc.length, out);
    expect(Buffer.from(out.subarray(0, n))).toEqual(all);
    // EOS (30 ones) inside the string is an error.
    expect(huffmanDecode(hex('ffffffff'), 0, 4, out)).toBe(-1);
    // Padding of eight or more bits: "a" (00011) followed by a full byte of ones.
    expect(huffmanDecode(hex('1fff'), 0, 2, out)).toBe(-1);
    // Padding that is not all ones: "a" then 000.
    expect(huffmanDecode(hex('18'), 0, 1, out)).toBe(-1);
    // Correct padding: "a" then 111.
    expect(huffmanDecode(hex('1f'), 0, 1, out)).toBe(1);
    expect(out[0]).toBe(0x61);
  });
});

describe('RFC 7541 Appendix C examples', () => {
  it('C.1 integers: 10 and 1337 with a 5-bit prefix (as table size updates), 42 on an octet boundary', () => {
    const d = new HpackDecoder();
    // C.1.1: 10 on 5 bits (size-update representation 001xxxxx).
    expect(decode(d, hex('2a'))).toBe('');
    expect(d.tableMaxSize).toBe(10);
    // C.1.2: 1337 = 31, 154, 10.
    expect(decode(d, Buffer.from([0x20 | 0x1f, 0x9a, 0x0a]))).toBe('');
    expect(d.tableMaxSize).toBe(1337);
    // C.1.3: 42 on 8 bits — here the 7-bit length prefix of a raw string literal (0x2a).
    const block = Buffer.concat([hex('0001 61 2a'), Buffer.alloc(42, 0x78)]);
    expect(decode(d, block)).toBe('');
    expect(headers(d)).toEqual([['a', 'x'.repeat(42)]]);
  });

  it('C.2.1 literal header field with indexing', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))).toBe('');
    expect(headers(d)).toEqual([['custom-key', 'custom-header']]);
    expect(table(d)).toEqual([['custom-key', 'custom-header']]);
    expect(d.tableSize).toBe(55);
  });

  it('C.2.2 literal header field without indexing', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('040c 2f73 616d 706c 652f 7061 7468'))).toBe('');
    expect(headers(d)).toEqual([[':path', '/sample/path']]);
    expect(d.tableLength).toBe(0);
  });

  it('C.2.3 literal header field never indexed', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toBe('');
    expect(headers(d)).toEqual([['password', 'secret']]);
    expect(d.tableLength).toBe(0);
  });

  it('C.2.4 indexed header field', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('82'))).toBe('');
    expect(headers(d)).toEqual([[':method', 'GET']]);
  });

  const requests: Array<[string, Array<[string, string]>, Array<[string, string]>, number]> = [
    [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', '/'],
        [':authority', 'www.example.com'],
      ],
      [[':authority', 'www.example.com']],
      57,
    ],
    [
      '8286 84be 5808 6e6f 2d63 6163 6865',
      [
        [':method', 'GET'],
        [':scheme', 'http'],
        [':path', '/'],
        [':authority', 'www.example.com'],
        ['cache-control', 'no-cache'],
      ],
      [
        ['cache-control', 'no-cache'],
        [':authority', 'www.example.com'],
      ],
      110,
    ],
    [
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      [
        [':method', 'GET'],
        [':scheme', 'https'],
        [':path', '/index.html'],
        [':authority', 'www.example.com'],
        ['custom-key', 'custom-value'],
      ],
      [
        ['custom-key', 'custom-value'],
        ['cache-control', 'no-cache'],
        [':authority', 'www.example.com'],
      ],
      164,
    ],
  ];

  it('C.3 requests without Huffman coding, one decoding context', () => {
    const d = new HpackDecoder();
    for (const [bytes, list, dyn, size] of requests) {
      expect(decode(d, hex(bytes))).toBe('');
      expect(headers(d)).toEqual(list);
      expect(table(d)).toEqual(dyn);
      expect(d.tableSize).toBe(size);
    }
  });

  it('C.4 requests with Huffman coding, one decoding context', () => {
    const huffman = ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'];
    const d = new HpackDecoder();
    requests.forEach(([, list, dyn, size], i) => {
      expect(decode(d, hex(huffman[i]))).toBe('');
      expect(headers(d)).toEqual(list);
      expect(table(d)).toEqual(dyn);
      expect(d.tableSize).toBe(size);
    });
  });

  const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
  const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
  const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
  const responses: Array<[Array<[string, string]>, Array<[string, string]>, number]> = [
    [
      [
        [':status', '302'],
        ['cache-control', 'private'],
        ['date', date1],
        ['location', 'https://www.example.com'],
      ],
      [
        ['location', 'https://www.example.com'],
        ['date', date1],
        ['cache-control', 'private'],
        [':status', '302'],
      ],
      222,
    ],
    [
      [
        [':status', '307'],
        ['cache-control', 'private'],
        ['date', date1],
        ['location', 'https://www.example.com'],
      ],
      [
        [':status', '307'],
        ['location', 'https://www.example.com'],
        ['date', date1],
        ['cache-control', 'private'],
      ],
      222,
    ],
    [
      [
        [':status', '200'],
        ['cache-control', 'private'],
        ['date', date2],
        ['location', 'https://www.example.com'],
        ['content-encoding', 'gzip'],
        ['set-cookie', cookie],
      ],
      [
        ['set-cookie', cookie],
        ['content-encoding', 'gzip'],
        ['date', date2],
      ],
      215,
    ],
  ];

  it('C.5 responses without Huffman coding: a 256-octet table evicts', () => {
    const raw = [
      '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '4803 3330 37c1 c0bf',
      '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
    ];
    const d = new HpackDecoder();
    d.setMaxTableSize(256);
    responses.forEach(([list, dyn, size], i) => {
      expect(decode(d, hex(raw[i]))).toBe('');
      expect(headers(d)).toEqual(list);
      expect(table(d)).toEqual(dyn);
      expect(d.tableSize).toBe(size);
    });
  });

  it('C.6 responses with Huffman coding: the same evictions', () => {
    const huffman = [
      '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
      '4883 640e ffc1 c0bf',
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ];
    const d = new HpackDecoder();
    d.setMaxTableSize(256);
    responses.forEach(([list, dyn, size], i) => {
      expect(decode(d, hex(huffman[i]))).toBe('');
      expect(headers(d)).toEqual(list);
      expect(table(d)).toEqual(dyn);
      expect(d.tableSize).toBe(size);
    });
  });
});

describe('HPACK dynamic table management', () => {
  it('a size update to 0 empties the table and a later one re-enables it', () => {
    const d = new HpackDecoder();
    decode(d, hpackBlock([{ name: 'x-a', value: '1', index: 'incremental' }]));
    expect(d.tableLength).toBe(1);
    expect(decode(d, hpackBlock([{ tableSize: 0 }, { tableSize: 100 }, { name: 'x-b', value: '22', index: 'incremental' }]))).toBe('');
    expect(table(d)).toEqual([['x-b', '22']]);
    expect(d.tableSize).toBe(3 + 2 + 32);
  });

  it('an entry larger than the table empties it and is not inserted', () => {
    const d = new HpackDecoder();
    d.setMaxTableSize(64);
    decode(d, hpackBlock([{ name: 'a', value: 'b', index: 'incremental' }]));
    expect(d.tableSize).toBe(34);
    decode(d, hpackBlock([{ name: 'big', value: 'x'.repeat(40), index: 'incremental' }]));
    expect(headers(d)).toEqual([['big', 'x'.repeat(40)]]);
    expect(d.tableLength).toBe(0);
    expect(d.tableSize).toBe(0);
  });

  it('evicts oldest first and keeps indexes of newer entries (many insertions, table ring wraps)', () => {
    const d = new HpackDecoder();
    for (let i = 0; i < 500; i++) decode(d, hpackBlock([{ name: `k${i}`, value: `v${i}`, index: 'incremental' }]));
    // Each entry is 32 + len(k) + len(v); 4096 holds the newest ones only.
    const newest = table(d);
    expect(newest[0]).toEqual(['k499', 'v499']);
    expect(d.tableSize).toBeLessThanOrEqual(4096);
    const sizes = newest.reduce((a, [k, v]) => a + k.length + v.length + 32, 0);
    expect(d.tableSize).toBe(sizes);
    // Index 62 is the newest, 62 + n - 1 the oldest kept.
    decode(d, hpackBlock([{ indexed: 62 }, { indexed: 61 + newest.length }]));
    expect(headers(d)).toEqual([newest[0], newest[newest.length - 1]]);
  });

  it('mid-connection: references to entries it never saw give unknown names, not errors', () => {
    const d = new HpackDecoder();
    // :method POST, :scheme http, dynamic 66 (unknown), literal with indexed name 67 (unknown) and value "/svc/M".
    const block = Buffer.concat([hex('83 86 c2'), Buffer.from([0x0f, 67 - 15, 6]), Buffer.from('/svc/M')]);
    expect(decode(d, block)).toBe('');
    expect(headers(d)).toEqual([
      [':method', 'POST'],
      [':scheme', 'http'],
      ['', ''],
      ['', '/svc/M'],
    ]);
    expect(d.blockUnknown).toBe(2);
    // A literal with incremental indexing and an unknown name still takes a table slot.
    decode(d, Buffer.concat([Buffer.from([0x7f, 70 - 63, 2]), Buffer.from('ok')]));
    expect(d.tableLength).toBe(1);
    expect(table(d)).toEqual([['', 'ok']]);
  });

  it('reports broken blocks without throwing, keeping what came before', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('82 80'))).toBe('zero-index');
    expect(headers(d)).toEqual([[':method', 'GET']]);
    expect(decode(d, hex('82 0a'))).toBe('truncated');
    expect(decode(d, hex('40 85 ffff'))).toBe('truncated');
    expect(decode(d, hex('ff ff ff ff ff ff'))).toBe('bad-integer');
    expect(decode(d, hex('0081 ff 0161'))).toBe('bad-huffman');
    expect(decode(d, Buffer.from([0x3f, 0xe1, 0xff, 0xff, 0x7f]))).toBe('table-size');
  });
});
