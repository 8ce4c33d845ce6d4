import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { conformanceRoot } from './conformance';

describe('conformance captures location', () => {
  it('MF_CONFORMANCE_DIR wins over the shared/ folder beside the repository', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaflow-conf-'));
    try {
      expect(conformanceRoot({ MF_CONFORMANCE_DIR: dir })).toBe(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing folder fails with the place looked at and how to fix it', () => {
    expect(() => conformanceRoot({ MF_CONFORMANCE_DIR: '/nonexistent/conformance' })).toThrow(
      'conformance captures not found at /nonexistent/conformance (MF_CONFORMANCE_DIR); clone the repository next to shared/ or set MF_CONFORMANCE_DIR to the conformance folder',
    );
  });

  it('defaults to ../shared/conformance beside the repository', () => {
    expect(conformanceRoot({})).toBe(path.resolve(__dirname, '../../../shared/conformance'));
  });
});
