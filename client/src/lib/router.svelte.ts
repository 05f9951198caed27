// A hash router: #/ projects, #/new create, #/projects/:id dashboard.

export type Route =
  | { name: 'projects' }
  | { name: 'new' }
  | { name: 'project'; id: string }
  | { name: 'notFound'; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  if (path === '/' || path === '') return { name: 'projects' };
  if (path === '/new') return { name: 'new' };
  const m = path.match(/^\/projects\/([^/]+)\/?$/);
  if (m) return { name: 'project', id: decodeURIComponent(m[1]) };
  return { name: 'notFound', path };
}

export function href(route: Route): string {
  switch (route.name) {
    case 'projects': return '#/';
    case 'new': return '#/new';
    case 'project': return `#/projects/${encodeURIComponent(route.id)}`;
    default: return '#/';
  }
}

class Router {
  route = $state<Route>(parseRoute(typeof location === 'undefined' ? '' : location.hash));

  constructor() {
    if (typeof window !== 'undefined') {
      window.addEventListener('hashchange', () => { this.route = parseRoute(location.hash); });
    }
  }

  go(route: Route): void {
    location.hash = href(route);
  }
}

export const router = new Router();
