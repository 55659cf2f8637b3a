#!/usr/bin/env bash
# npm installs (verbose) into a throwaway project, npm ls, and a passing node test run.
. "$(dirname "$0")/common.sh"
P=$SCRATCH/npmproj; mkdir -p "$P/test"
cd "$P"
capture npm/npm-init.log npm init -y
capture npm/npm-install-verbose.log npm install --loglevel verbose --no-audit --no-fund \
  express lodash axios commander chalk@4 dayjs uuid yargs
capture npm/npm-install-dev.log npm install --save-dev --no-audit --no-fund \
  typescript eslint prettier mocha
capture npm/npm-ls.log npm ls --all
cat >"$P/test/basics.test.js" <<'JS'
const test = require('node:test');
const assert = require('node:assert');
const _ = require('lodash');
const express = require('express');
const http = require('node:http');

test('lodash chunks', () => { assert.deepStrictEqual(_.chunk([1, 2, 3, 4], 2), [[1, 2], [3, 4]]); });
test('dayjs formats', () => { assert.strictEqual(require('dayjs')('2024-05-01').format('YYYY'), '2024'); });
test('express answers on loopback', async () => {
  const app = express();
  app.get('/health', (req, res) => res.json({ ok: true }));
  const srv = app.listen(0, '127.0.0.1');
  await new Promise(r => srv.once('listening', r));
  const body = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: srv.address().port, path: '/health' }, res => {
      let d = ''; res.on('data', c => d += c); res.on('end', () => resolve(d));
    }).on('error', reject);
  });
  srv.close();
  assert.deepStrictEqual(JSON.parse(body), { ok: true });
});
for (let i = 0; i < 30; i++) test(`arithmetic ${i}`, () => assert.strictEqual(i + i, 2 * i));
JS
cat >"$P/test/mocha.spec.js" <<'JS'
const assert = require('assert');
describe('uuid', () => {
  it('makes v4 ids', () => assert.match(require('uuid').v4(), /^[0-9a-f-]{36}$/));
  it('differs each time', () => assert.notStrictEqual(require('uuid').v4(), require('uuid').v4()));
});
describe('commander', () => {
  it('parses an option', () => {
    const { Command } = require('commander');
    const p = new Command().option('--n <n>').parse(['node', 'x', '--n', '3']);
    assert.strictEqual(p.opts().n, '3');
  });
});
JS
echo 'export const add = (a: number, b: number): number => a + b;' >"$P/add.ts"
capture npm/node-test.log node --test test/basics.test.js
capture npm/mocha.log npx mocha test/mocha.spec.js
capture npm/tsc.log npx tsc --listFiles --strict add.ts
scrub "$OUT"/npm/*.log
sed -i "s#$HOME#/root#g" "$OUT"/npm/*.log
