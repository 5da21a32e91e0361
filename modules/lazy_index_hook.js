'use strict';
// Preloaded (`node --require`) into the jsii kernel by modules/node_runtime.py.
//
// The provider package's lib/index.js is nothing but `exports.x = require("./x");` for each of
// its 2,135 resource modules: loading it costs ~1.6 s and most of the kernel's memory, while a
// synth touches ~45 of them. The jsii kernel reaches a type only through property access on the
// package exports (`exports.s3Bucket.S3Bucket`), so that index can be replaced by getters that
// require a module on first access.
//
// Only for the pinned package: PLATFORM_JSII_LAZY_INDEX = "<name>@<version>#sha256=<hex>" of the
// index.js it was checked against. Any other version, content or line shape: the original index is
// loaded untouched. The outcome goes to PLATFORM_JSII_LAZY_REPORT (a file the Python side reads
// and logs at debug level); nothing is written to stdout/stderr, which belong to the kernel.

const crypto = require('crypto');
const fs = require('fs');
const Module = require('module');
const path = require('path');

const PIN = /^(@?[^@#]+)@([^@#]+)#sha256=([0-9a-f]{64})$/.exec(process.env.PLATFORM_JSII_LAZY_INDEX || '');
const REPORT = process.env.PLATFORM_JSII_LAZY_REPORT;
const REQUIRE_LINE = /^exports\.([A-Za-z_$][\w$]*) = require\("(\.\/[a-z0-9-]+)"\);$/;
const IGNORED_LINE = [
  /^"use strict";$/,
  /^\/\*\*$/,
  /^ \*( .*)?$/,
  /^ \*\/$/,
  /^\/\/.*$/,
  /^Object\.defineProperty\(exports, "__esModule", \{ value: true \}\);$/,
  /^(exports\.[A-Za-z_$][\w$]* = )+void 0;$/,
  /^$/,
];

function report(line) {
  if (!REPORT) return;
  try {
    fs.appendFileSync(REPORT, `${line}\n`);
  } catch {
    // the report is diagnostics only
  }
}

// The package a lib/index.js belongs to, if it is the pinned one; else null.
function pinnedPackage(filename) {
  if (path.basename(filename) !== 'index.js' || path.basename(path.dirname(filename)) !== 'lib') return null;
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(path.dirname(filename), '..', 'package.json'), 'utf8'));
  } catch {
    return null;
  }
  if (manifest.name !== PIN[1]) return null;
  return manifest;
}

// [[exportName, relativePath], ...] when the source is exactly the expected shape; else a reason.
function parseIndex(source) {
  const entries = [];
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i];
    const m = REQUIRE_LINE.exec(line);
    if (m) entries.push([m[1], m[2]]);
    else if (!IGNORED_LINE.some((re) => re.test(line))) return `unexpected line ${i + 1}: ${line.slice(0, 80)}`;
  }
  return entries.length > 0 ? entries : 'no require() lines';
}

function defineLazy(module, entries) {
  const target = module.exports;
  Object.defineProperty(target, '__esModule', { value: true });
  for (const [name, rel] of entries) {
    const settle = (value) => {
      Object.defineProperty(target, name, { value, writable: true, enumerable: true, configurable: true });
      return value;
    };
    Object.defineProperty(target, name, {
      enumerable: true,
      configurable: true,
      get: () => settle(module.require(rel)),
      set: settle,
    });
  }
}

if (PIN) {
  const [, name, version, digest] = PIN;
  const original = Module._extensions['.js'];
  Module._extensions['.js'] = function lazyIndexLoader(module, filename) {
    const manifest = pinnedPackage(filename);
    if (manifest === null) return original.call(this, module, filename);
    let source;
    try {
      source = fs.readFileSync(filename, 'utf8');
    } catch (err) {
      report(`eager ${name}: cannot read ${filename}: ${err.message}`);
      return original.call(this, module, filename);
    }
    const actual = crypto.createHash('sha256').update(source).digest('hex');
    const entries = parseIndex(source);
    let reason = null;
    if (manifest.version !== version) reason = `version ${manifest.version}, pinned ${version}`;
    else if (actual !== digest) reason = `lib/index.js sha256 ${actual} differs from the pinned one`;
    else if (typeof entries === 'string') reason = `lib/index.js: ${entries}`;
    if (reason !== null) {
      report(`eager ${name}@${manifest.version}: ${reason}`);
      return original.call(this, module, filename);
    }
    defineLazy(module, entries);
    report(`lazy ${name}@${version}: ${entries.length} modules load on first use`);
    return undefined;
  };
}
