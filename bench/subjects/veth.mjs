// The bare veth between the two namespaces: the baseline, with no tunnel process (the kernel does the work).
export async function setupVeth() {
  return { addr: '192.0.2.1', pids: [], stop: async () => {} }
}
