/** Where index mode serves a file, found the way pip finds it: from the project page. */
import { request, type Dispatcher } from 'undici';
import type { TestDaemon } from '../../test/helpers/daemon.js';
import { bounded } from './common.js';

export interface ListedFile {
  indexUrl: string;
  pageUrl: string;
  format: string;
  href: string;
  /** Absolute file URL (page URL + href, fragment dropped). */
  url: string;
}

/**
 * `pipcache env --index --json` gives PIP_INDEX_URL; the project page (JSON,
 * HTML as a fallback) lists the file under a relative URL, resolved against
 * the page URL. Fetching the page also makes the daemon record the file.
 */
export async function indexFileUrl(daemon: TestDaemon, project: string, filename: string, dispatcher: Dispatcher): Promise<ListedFile> {
  const envOut = await daemon.cli(['env', '--index', '--json']);
  if (envOut.code !== 0) throw new Error(`pipcache env --index --json failed: ${envOut.stderr}`);
  const indexUrl = (JSON.parse(envOut.stdout) as Record<string, string>).PIP_INDEX_URL;
  if (!indexUrl) throw new Error(`pipcache env --index --json printed no PIP_INDEX_URL: ${envOut.stdout}`);
  const pageUrl = new URL(`${project}/`, indexUrl.endsWith('/') ? indexUrl : `${indexUrl}/`).href;
  const res = await bounded(
    `GET ${pageUrl}`,
    30_000,
    request(pageUrl, { dispatcher, headers: { accept: 'application/vnd.pypi.simple.v1+json, text/html;q=0.1' } }),
  );
  const body = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${pageUrl}: status ${res.statusCode}: ${body.slice(0, 200)}`);
  const ctype = String(res.headers['content-type'] ?? '');
  let href: string | undefined;
  let format: string;
  if (ctype.includes('json')) {
    format = 'JSON';
    href = (JSON.parse(body) as { files: { filename: string; url: string }[] }).files.find((f) => f.filename === filename)?.url;
  } else {
    format = 'HTML';
    for (const m of body.matchAll(/<a\s[^>]*href="([^"]*)"[^>]*>([^<]*)<\/a>/gi)) {
      if (m[2]!.trim() === filename) href = m[1]!.replace(/&amp;/g, '&');
    }
  }
  if (!href) throw new Error(`index page ${pageUrl} (${ctype}) does not list ${filename}`);
  const url = new URL(href, pageUrl);
  url.hash = '';
  return { indexUrl, pageUrl, format, href, url: url.href };
}
