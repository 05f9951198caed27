// Uploads a file for an import: the raw body to /uploads/<project>, answered with the volume path to import.

export async function uploadFile(projectId: string, file: File, fetcher: typeof fetch = fetch): Promise<string> {
  const r = await fetcher(`/uploads/${encodeURIComponent(projectId)}?name=${encodeURIComponent(file.name)}`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: file,
  });
  let body: { path?: string; error?: string } = {};
  try { body = await r.json(); } catch { /* not JSON: reported below */ }
  if (!r.ok || !body.path) throw new Error(body.error ?? `The upload failed (${r.status}).`);
  return body.path;
}
