/**
 * ISO 3166-1 alpha-2 country codes, the one test for a country everywhere
 * (`vpn list -c`, the config's vpnServer.country, the discovery services):
 * the region names ICU/CLDR ships with Node, minus the codes CLDR names that
 * ISO 3166-1 has not assigned: exceptionally
 * or transitionally reserved codes (EU, UK, UN, SU, YU, ...), user-assigned
 * ones (XA, XB, XK, QO) and CLDR-only areas. Unknown pairs like ZZ or XX get
 * no name from ICU and are refused as before.
 */
const NOT_ISO_3166_1 = new Set([
  'AC',
  'AN',
  'BU',
  'CP',
  'CQ',
  'CS',
  'DD',
  'DG',
  'DY',
  'EA',
  'EU',
  'EZ',
  'FX',
  'HV',
  'IC',
  'NH',
  'QO',
  'RH',
  'SU',
  'TA',
  'TP',
  'UK',
  'UN',
  'VD',
  'XA',
  'XB',
  'XK',
  'YD',
  'YU',
  'ZR',
])

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' })

export function isIsoCountryCode(cc: string): boolean {
  if (!/^[A-Z]{2}$/.test(cc) || NOT_ISO_3166_1.has(cc)) return false
  // ICU echoes codes it does not know.
  const name = regionNames.of(cc)
  return name !== undefined && name !== cc && name !== 'Unknown Region'
}
