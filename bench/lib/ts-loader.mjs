// Module hooks (Node >= 20.6): transpile-only TypeScript, no type checking
// (bench/run.mjs type-checks with `tsc -p bench` first).
//  - `.ts` files are transpiled with the workspace's own `typescript` package;
//  - a relative `./x.js` that does not exist resolves to `./x.ts` (NodeNext style);
//  - bare packages not found from bench/ (undici, @peculiar/x509) are resolved
//    from test/, the workspace package whose fixtures the benchmarks reuse.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const TEST_PACKAGE = new URL('../../test/package.json', import.meta.url).href;

const COMPILER_OPTIONS = {
  module: ts.ModuleKind.ESNext,
  target: ts.ScriptTarget.ES2022,
  verbatimModuleSyntax: true,
  inlineSourceMap: true,
  inlineSources: true,
};

function isRelative(specifier) {
  return specifier.startsWith('./') || specifier.startsWith('../') || specifier.startsWith('/') || specifier.startsWith('file:');
}

export async function resolve(specifier, context, nextResolve) {
  if (isRelative(specifier) && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
    const url = new URL(specifier, context.parentURL);
    if (!existsSync(url)) {
      const tsUrl = new URL(url.href.replace(/\.js$/, '.ts'));
      if (existsSync(tsUrl)) return { url: tsUrl.href, format: 'module', shortCircuit: true };
    }
  }
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && !isRelative(specifier) && !specifier.startsWith('node:')) {
      return nextResolve(specifier, { ...context, parentURL: TEST_PACKAGE });
    }
    throw err;
  }
}

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && url.endsWith('.ts')) {
    const fileName = fileURLToPath(url);
    const source = await readFile(fileName, 'utf8');
    const out = ts.transpileModule(source, { fileName, compilerOptions: COMPILER_OPTIONS, reportDiagnostics: false });
    return { format: 'module', source: out.outputText, shortCircuit: true };
  }
  return nextLoad(url, context);
}
