// A hash router: #/ projects, #/new create, #/projects/:id dashboard, #/projects/:id/label[/:sampleId] labelling,
// #/projects/:id/review reviewing (/adjudication: the images whose labellers disagree; /errors: the likely label
// errors a model evaluation ranked), #/jobs, #/admin.

export type Route =
  | { name: 'projects' }
  | { name: 'new' }
  | { name: 'project'; id: string }
  | { name: 'label'; id: string; sampleId: string | null }
  | { name: 'review'; id: string; adjudication?: boolean; errors?: boolean }
  | { name: 'jobs' }
  | { name: 'admin' }
  | { name: 'notFound'; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '') || '/';
  if (path === '/' || path === '') return { name: 'projects' };
  if (path === '/new') return { name: 'new' };
  if (path === '/jobs') return { name: 'jobs' };
  if (path === '/admin') return { name: 'admin' };
  const m = path.match(/^\/projects\/([^/]+)\/?$/);
  if (m) return { name: 'project', id: decodeURIComponent(m[1]) };
  const r = path.match(/^\/projects\/([^/]+)\/review(\/adjudication|\/errors)?\/?$/);
  if (r) return r[2] === '/adjudication' ? { name: 'review', id: decodeURIComponent(r[1]), adjudication: true }
    : r[2] === '/errors' ? { name: 'review', id: decodeURIComponent(r[1]), errors: true }
    : { name: 'review', id: decodeURIComponent(r[1]) };
  const l = path.match(/^\/projects\/([^/]+)\/label(?:\/([^/]+))?\/?$/);
  if (l) return { name: 'label', id: decodeURIComponent(l[1]), sampleId: l[2] ? decodeURIComponent(l[2]) : null };
  return { name: 'notFound', path };
}

export function href(route: Route): string {
  switch (route.name) {
    case 'projects': return '#/';
    case 'new': return '#/new';
    case 'project': return `#/projects/${encodeURIComponent(route.id)}`;
    case 'label': return `#/projects/${encodeURIComponent(route.id)}/label` +
      (route.sampleId ? `/${encodeURIComponent(route.sampleId)}` : '');
    case 'review': return `#/projects/${encodeURIComponent(route.id)}/review` +
      (route.adjudication ? '/adjudication' : route.errors ? '/errors' : '');
    case 'jobs': return '#/jobs';
    case 'admin': return '#/admin';
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

  /** Changes the address without adding a history entry (moving between images). */
  replace(route: Route): void {
    history.replaceState(null, '', href(route));
    this.route = route;
  }
}

export const router = new Router();
