/**
 * Picking candidates: which cached versions of a project may serve a
 * requirement under its project's constraints, best first, and why none can
 * when that is so.
 */
import { explain as pep440Explain, satisfies as pep440Satisfies } from '@renovatebot/pep440';
import { validRange } from '@renovatebot/pep440/lib/specifier.js';
import { parseArchiveFilename, type Requirement, specifierIsPinned, specifierNamesPrerelease, wheelMatches } from '@pipcache/pep';
import type { ResolveContext } from './context.js';
import type { Cand } from './state.js';
import type { CandidateFile } from './types.js';

function isPrerelease(v: string): boolean {
  return pep440Explain(v)?.is_prerelease === true;
}

/** Why a file cannot serve the target, or null when it can. */
function fileProblem(ctx: ResolveContext, f: CandidateFile, allowYanked: boolean): string | null {
  if (f.yanked !== false && !allowYanked) return f.yanked === '' ? 'yanked' : `yanked (${f.yanked})`;
  const rp = f.requiresPython?.trim();
  if (rp !== undefined && rp !== '' && validRange(rp) && !pep440Satisfies(ctx.pythonFull, rp, { prereleases: true })) {
    return `requires-python ${rp}`;
  }
  if (f.kind === 'wheel') {
    const tags = f.tags ?? parseArchiveFilename(f.filename)?.tags;
    if (tags === undefined || !wheelMatches(tags, ctx.supported)) return 'wheel not compatible with the target';
  }
  return null;
}

/** Candidates (best first) for `req` with its project's constraints; or why there are none. */
export async function selectCandidates(ctx: ResolveContext, req: Requirement): Promise<{ cands: Cand[]; why: string }> {
  const cons = ctx.constraints.get(req.name) ?? [];
  const combined = [req.specifier, ...cons.map((c) => c.specifier)].filter((s) => s !== '').join(',');
  const allowYanked = specifierIsPinned(combined);
  const allowPre = ctx.opts.pre || specifierNamesPrerelease(combined);
  const all = await ctx.versionsOf(req.name);
  if (all.length === 0) return { cands: [], why: 'not in the cache' };

  const accepted: Cand[] = [];
  const problems: string[] = [];
  let matchedSpec = 0;
  for (const v of all) {
    if (req.specifier !== '' && !pep440Satisfies(v.version, req.specifier, { prereleases: true })) continue;
    matchedSpec++;
    const blocking = cons.find((c) => !pep440Satisfies(v.version, c.specifier, { prereleases: true }));
    if (blocking !== undefined) {
      problems.push(`${v.version}: excluded by constraint '${blocking.text}' (${blocking.source})`);
      continue;
    }
    const files: CandidateFile[] = [];
    const fileWhy = new Set<string>();
    for (const f of v.files) {
      const problem = fileProblem(ctx, f, allowYanked);
      if (problem === null) files.push(f);
      else fileWhy.add(problem);
    }
    if (files.length === 0) {
      problems.push(`${v.version}: ${v.files.length === 0 ? 'no files' : [...fileWhy].sort().join(', ')}`);
      continue;
    }
    accepted.push({ version: v.version, files });
  }
  // pip: pre-releases only when allowed, unless nothing else is available.
  const finals = accepted.filter((c) => !isPrerelease(c.version));
  const cands = allowPre || finals.length === 0 ? accepted : finals;
  if (cands.length > 0) return { cands, why: '' };
  if (matchedSpec === 0) {
    const shown = all.slice(0, 8).map((v) => v.version);
    return { cands, why: `no cached version matches (cached: ${shown.join(', ')}${all.length > shown.length ? ', ...' : ''})` };
  }
  const shown = problems.slice(0, 6);
  return { cands, why: `no cached version can serve the target: ${shown.join('; ')}${problems.length > shown.length ? '; ...' : ''}` };
}
