// `node --import ./bench/lib/register.mjs some.ts`: runs TypeScript (bench/ and
// the test fixtures it imports) without tsx, by transpiling on load.
import { register } from 'node:module';

register('./ts-loader.mjs', import.meta.url);
