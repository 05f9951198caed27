// Project roles as the API names them, lowest first: each role can do what the ones before it can.

export const ROLES = ['VIEWER', 'ANNOTATOR', 'REVIEWER', 'OWNER'] as const;
export type Role = (typeof ROLES)[number];

export function roleLabel(role: Role): string {
  return role.charAt(0) + role.slice(1).toLowerCase();
}

/** Whether `role` may do what `needed` may (admins are OWNER in every project). */
export function atLeast(role: Role | null | undefined, needed: Role): boolean {
  return role != null && ROLES.indexOf(role) >= ROLES.indexOf(needed);
}
