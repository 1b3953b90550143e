/**
 * The page: wires the pure pieces in lib/ to the DOM. Live state comes from
 * the visor's event stream; the only requests are the server list and the
 * user's own actions.
 */
import { CONTROL_ROUTES } from '../contracts/control-routes.js'
import { Api } from './lib/api.js'
import { bannerFor, type Banner } from './lib/errors.js'
import { countryName, entryPk, flagEmoji, formatBytes, formatDuration, formatLatency, formatRate, shortPk } from './lib/format.js'
import { graphPaths } from './lib/graph.js'
import { KEY_HOP, hopOptions, routeChoice, routeLine } from './lib/route.js'
import { countries, filterServers, load, type ServerEntry } from './lib/servers.js'
import { MAX_SAMPLES, canConnect, canDisconnect, initialState, reduce, stateLabel, type Action, type UiState } from './lib/state.js'
import { hashWithoutToken, tokenFromHash } from './lib/token.js'
import { initSettings } from './settings-panel.js'
import type { StateEvent, TickEvent } from '../contracts/status.js'

const api = new Api()
let state: UiState = initialState()
let servers: ServerEntry[] = []
let serversFailed = false
let hops: ServerEntry[] = []
const flags = flagsRender()

/**
 * Whether this system draws flag emoji in colour. Without an emoji font they are
 * two empty boxes, so the page shows just the country code instead.
 */
function flagsRender(): boolean {
  try {
    const c = document.createElement('canvas')
    c.width = c.height = 20
    const ctx = c.getContext('2d', { willReadFrequently: true })
    if (!ctx) return false
    ctx.textBaseline = 'top'
    ctx.font = '16px sans-serif'
    ctx.fillText(flagEmoji('DE'), 0, 0)
    const d = ctx.getImageData(0, 0, 20, 20).data
    for (let i = 0; i < d.length; i += 4) {
      const [r, g, b, a] = [d[i] ?? 0, d[i + 1] ?? 0, d[i + 2] ?? 0, d[i + 3] ?? 0]
      if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) return true
    }
  } catch {
    // no canvas: assume no colour emoji
  }
  return false
}

function flagOf(cc: string | null | undefined): string {
  return flags ? flagEmoji(cc) : ''
}

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id)
  if (!el) throw new Error(`#${id} missing from the page`)
  return el as T
}

function text(id: string, v: string): void {
  const el = $(id)
  if (el.textContent !== v) el.textContent = v
}

function dispatch(a: Action): void {
  state = reduce(state, a)
  render()
}

function showBanner(b: Banner | null): void {
  dispatch({ type: 'banner', banner: b })
}

/** A banner for the failure; without a valid token nothing else will work either, so the page says so once. */
function failed(err: unknown, doing: string): void {
  const b = bannerFor(err, doing)
  if (b.kind === 'auth') dispatch({ type: 'stream', stream: 'denied' })
  showBanner(b)
}

function render(): void {
  const s = state
  const c = s.client
  const label = stateLabel(s)
  const badge = $('state')
  badge.dataset.state = s.stream === 'lost' || s.stream === 'denied' ? s.stream : (c?.state ?? 'loading')
  text('state', label)
  text('state-server', c?.server ? `to ${shortPk(c.server)}` : '')
  text('f-server', c?.server ?? '–')
  text('f-remote', c?.remote ?? '–')
  // Through hops, the address the client talks to is the first hop's, not the exit's.
  const viaHop = c?.route?.some((l) => l.role === 'hop') ?? false
  text('f-remote-label', viaHop ? 'First hop address' : 'Server address')
  $('f-remote').title = viaHop ? 'The first hop: the only visor your machine talks to' : 'Your traffic leaves the internet from here'
  text('f-transport', c?.transport ? c.transport.toUpperCase() : '–')
  // The chain of a multi-hop route; "direct" for one transport to the exit; nothing while no route stands (reconnecting).
  text('f-route', routeLine(c?.route) || (c?.route?.length === 1 ? 'direct' : '–'))
  text('f-tunnel', c?.tunnelIp ?? '–')
  text('f-latency', formatLatency(c?.latencyMs ?? null))
  text('f-uptime', formatDuration(c?.uptimeS ?? null))
  text('f-rx', c ? `${formatBytes(c.rxBytes)} (${c.rxPackets} packets)` : '–')
  text('f-tx', c ? `${formatBytes(c.txBytes)} (${c.txPackets} packets)` : '–')
  const lastErr = $('last-error')
  // The banner already says it when the error came from what the user just did.
  lastErr.hidden = !c?.lastError || c.state === 'connected' || s.banner?.message === c.lastError
  text('last-error', c?.lastError ? `Last error: ${c.lastError}` : '')

  // The window grows from 30 s to its full two minutes, so a new connection is not a sliver at the edge.
  const slots = Math.min(MAX_SAMPLES, Math.max(30, s.samples.length))
  const g = graphPaths(s.samples, 600, 150, slots)
  text('graph-window', formatDuration(slots))
  $('graph-rx').setAttribute('d', g.rx)
  $('graph-tx').setAttribute('d', g.tx)
  const last = s.samples[s.samples.length - 1]
  text('rate-rx', last ? formatRate(last.rxBps) : '–')
  text('rate-tx', last ? formatRate(last.txBps) : '–')
  text('graph-max', s.samples.length > 0 ? formatRate(g.max) : '–')
  $('graph-rx-area').setAttribute('d', g.rxArea)

  const dis = $<HTMLButtonElement>('disconnect')
  dis.disabled = !canDisconnect(s)
  text('disconnect', s.busy === 'stop' ? 'Disconnecting…' : 'Disconnect')

  const sv = s.server
  const serveBadge = $('serve-state').querySelector<HTMLElement>('.badge')
  if (serveBadge) {
    serveBadge.dataset.state = sv ? (sv.running ? 'connected' : 'disconnected') : 'loading'
    const v = sv ? (sv.running ? 'serving' : 'not serving') : 'loading'
    if (serveBadge.textContent !== v) serveBadge.textContent = v
  }
  text('s-clients', sv ? String(sv.clients) : '–')
  text('s-secure', sv ? (sv.secure ? 'on (clients reach only the internet)' : 'off') : '–')
  text('s-netifc', sv?.netifc ?? '–')
  text('s-traffic', sv?.running ? `${formatBytes(sv.rxBytes)} in, ${formatBytes(sv.txBytes)} out` : '–')

  text('live-text', { open: 'live', lost: 'visor unreachable, retrying…', denied: 'not authorised', opening: 'connecting to the visor…' }[s.stream])
  $('live').dataset.stream = s.stream

  const banner = $('banner')
  banner.hidden = s.banner === null
  banner.dataset.kind = s.banner?.kind ?? ''
  text('banner-title', s.banner?.title ?? '')
  text('banner-message', s.banner?.message ?? '')

  // Buttons only change their state here, so keyboard focus stays where it is.
  const ok = canConnect(s)
  for (const b of $('servers').querySelectorAll<HTMLButtonElement>('button[data-pk]')) {
    const pk = b.dataset.pk ?? ''
    const mine = c?.server === pk && c.state !== 'disconnected'
    b.disabled = !ok
    const v = s.busy === pk ? 'Connecting…' : mine ? (c?.state === 'connected' ? 'Connected' : 'Connecting…') : 'Connect'
    if (b.textContent !== v) b.textContent = v
    // The accessible name carries what the button says now, plus which server it is for.
    const where = b.dataset.where ?? ''
    b.setAttribute('aria-label', v === 'Connect' ? `Connect to ${shortPk(pk)} in ${where}` : `${v.replace('…', '')} to ${shortPk(pk)} in ${where}`)
    b.closest('li')?.classList.toggle('current', mine)
  }
}

function renderServers(): void {
  const country = $<HTMLSelectElement>('country').value
  const query = $<HTMLInputElement>('query').value
  const shown = filterServers(servers, { country, query })
  const list = $('servers')
  list.replaceChildren(
    ...shown.map((e) => {
      const pk = entryPk(e)
      const li = document.createElement('li')
      li.className = 'server'
      const where = document.createElement('span')
      where.className = 'where'
      const flag = document.createElement('span')
      flag.className = 'flag'
      flag.setAttribute('aria-hidden', 'true')
      flag.textContent = flagOf(e.country)
      const cc = document.createElement('span')
      cc.className = 'cc'
      cc.textContent = e.country ? e.country.toUpperCase() : '??'
      cc.title = countryName(e.country)
      where.append(flag, cc)
      const who = document.createElement('span')
      who.className = 'who'
      const name = document.createElement('span')
      name.className = 'country-name'
      name.textContent = countryName(e.country)
      const key = document.createElement('code')
      key.className = 'pk'
      key.textContent = pk
      who.append(name, key)
      const ld = document.createElement('span')
      ld.className = 'load'
      const n = load(e)
      ld.textContent = `${n} ${n === 1 ? 'client' : 'clients'}`
      const btn = document.createElement('button')
      btn.type = 'button'
      btn.dataset.pk = pk
      btn.textContent = 'Connect'
      btn.dataset.where = countryName(e.country)
      btn.setAttribute('aria-label', `Connect to ${shortPk(pk)} in ${countryName(e.country)}`)
      btn.addEventListener('click', () => void connect(pk))
      li.append(where, who, ld, btn)
      return li
    }),
  )
  text(
    'servers-note',
    serversFailed
      ? 'The server list could not be loaded.'
      : servers.length === 0
        ? 'No VPN servers are registered in service discovery.'
        : `${shown.length} of ${servers.length} ${servers.length === 1 ? 'server' : 'servers'}`,
  )
  render()
}

function renderCountries(): void {
  const sel = $<HTMLSelectElement>('country')
  const keep = sel.value
  const opts = countries(servers).map(({ code, count }) => {
    const o = document.createElement('option')
    o.value = code
    o.textContent = `${flagOf(code)} ${code} – ${countryName(code)} (${count})`.trim()
    return o
  })
  const all = document.createElement('option')
  all.value = ''
  all.textContent = 'All countries'
  sel.replaceChildren(all, ...opts)
  sel.value = opts.some((o) => o.value === keep) ? keep : ''
}

async function loadServers(): Promise<void> {
  text('servers-note', 'Loading servers…')
  try {
    servers = await api.servers()
    serversFailed = false
  } catch (err) {
    servers = []
    serversFailed = true
    failed(err, 'loading the server list')
  }
  renderCountries()
  renderServers()
}

/** The hops of service discovery in the picker, keeping the user's choice while it is still listed. */
function renderHops(): void {
  const sel = $<HTMLSelectElement>('hop')
  const keep = sel.value
  const opts = hopOptions(hops).map(({ pk, label }) => {
    const o = document.createElement('option')
    o.value = pk
    o.textContent = label
    return o
  })
  $('hop-list').replaceChildren(...opts)
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : ''
  $('hop-key-label').hidden = sel.value !== KEY_HOP
}

async function loadHops(): Promise<void> {
  try {
    hops = await api.hops()
  } catch {
    // The picker still offers "any hop" and a typed key; the server list's banner tells of a dead visor.
    hops = []
  }
  renderHops()
}

async function connect(pk: string): Promise<void> {
  if (!canConnect(state)) return
  const route = routeChoice($<HTMLSelectElement>('hop').value, $<HTMLInputElement>('hop-key').value, pk)
  if ('error' in route) {
    showBanner({ kind: 'error', title: 'Pick another hop', message: route.error })
    return
  }
  dispatch({ type: 'busy', busy: pk })
  showBanner(null)
  try {
    // Each hop is one more handshake (and maybe a hole punch) before the exit's.
    await api.start(pk, route.via || route.hops ? 40 : 20, route)
  } catch (err) {
    failed(err, `connecting to ${shortPk(pk)}`)
  } finally {
    dispatch({ type: 'busy', busy: null })
  }
}

async function disconnect(): Promise<void> {
  dispatch({ type: 'busy', busy: 'stop' })
  try {
    await api.stop()
    showBanner(null)
  } catch (err) {
    failed(err, 'disconnecting')
  } finally {
    dispatch({ type: 'busy', busy: null })
  }
}

function openStream(): void {
  const es = new EventSource(CONTROL_ROUTES.events.path)
  es.addEventListener('tick', (ev) => {
    const d = JSON.parse((ev as MessageEvent<string>).data) as TickEvent
    if (state.banner?.kind === 'visor' || state.banner?.kind === 'auth') showBanner(null)
    dispatch({ type: 'tick', t: d.t, client: d.client, server: d.server })
  })
  es.addEventListener('state', (ev) => {
    const d = JSON.parse((ev as MessageEvent<string>).data) as StateEvent
    dispatch({ type: 'state', t: d.t, client: d.client })
  })
  es.addEventListener('error', () => {
    // EventSource retries by itself; a closed one got a 401 or similar and will not.
    if (state.stream !== 'denied') dispatch({ type: 'stream', stream: 'lost' })
    if (es.readyState === EventSource.CLOSED) {
      // A refused stream says nothing about why; an ordinary request does.
      void api.servers(1).catch((err: unknown) => failed(err, 'reaching the visor'))
      setTimeout(openStream, 5000)
    }
  })
}

async function main(): Promise<void> {
  $('disconnect').addEventListener('click', () => void disconnect())
  $('banner-close').addEventListener('click', () => showBanner(null))
  $('refresh').addEventListener('click', () => {
    void loadServers()
    void loadHops()
  })
  $('hop').addEventListener('change', () => {
    $('hop-key-label').hidden = $<HTMLSelectElement>('hop').value !== KEY_HOP
  })
  $('country').addEventListener('change', renderServers)
  $('query').addEventListener('input', renderServers)
  $('filters').addEventListener('submit', (e) => e.preventDefault())

  const token = tokenFromHash(location.hash)
  if (token) {
    try {
      await api.session(token)
    } catch (err) {
      failed(err, 'signing in to the visor')
    }
    // Out of the address bar, history and any bookmark.
    history.replaceState(null, '', location.pathname + location.search + hashWithoutToken(location.hash))
  }
  render()
  openStream()
  initSettings(api, failed)
  await Promise.all([loadServers(), loadHops()])
}

void main()
