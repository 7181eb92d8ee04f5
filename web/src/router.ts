// Hash routing of the console (#/page?x=y): works under any path the server mounts it at, no server fallback needed.
import { useEffect, useState } from 'react';

export type Page = 'factory' | 'runs' | 'leaderboard' | 'playground' | 'copilot' | 'models' | 'requests' | 'data' | 'knowledge' | 'bots' | 'writer' | 'coach';
export const PAGES: Page[] = ['factory', 'runs', 'leaderboard', 'playground', 'copilot', 'models', 'requests', 'data', 'knowledge', 'bots', 'writer', 'coach'];

export interface Route { page: Page; params: URLSearchParams }

function parse(): Route {
  const h = location.hash.replace(/^#\/?/, '');
  const [p, q] = h.split('?');
  const page = (PAGES as string[]).includes(p ?? '') ? (p as Page) : 'factory';
  return { page, params: new URLSearchParams(q ?? '') };
}

export function useRoute(): Route {
  const [r, setR] = useState(parse);
  useEffect(() => {
    const on = () => setR(parse());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return r;
}

export function href(page: Page, params: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined)).toString();
  return `#/${page}${q ? `?${q}` : ''}`;
}

export function navigate(page: Page, params: Record<string, string | undefined> = {}): void {
  location.hash = href(page, params);
}
