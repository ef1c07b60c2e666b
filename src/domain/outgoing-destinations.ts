import ipaddr from 'ipaddr.js';
import { isAddressAllowed } from './networks.js';

/** What ipaddr.js calls a range, in the words the delivery log and the API's errors use. */
const RANGE_NAMES: Record<string, string> = {
  loopback: 'loopback',
  private: 'private',
  linkLocal: 'link-local',
  uniqueLocal: 'unique-local',
  carrierGradeNat: 'carrier-grade NAT',
  unspecified: 'unspecified',
  multicast: 'multicast',
  broadcast: 'broadcast',
  reserved: 'reserved',
};

/**
 * Why the server must not connect to `address` for a webhook or a ping URL,
 * or null when it may: only global unicast addresses are called, unless the
 * address falls in `allowed` (BORG_SERVER_OUTGOING_ALLOW, a canonical
 * allowFrom list) for receivers on the admin's own network. An IPv4-mapped
 * IPv6 address (::ffff:127.0.0.1) is judged as the IPv4 address it is; the
 * translation prefixes (NAT64, 6to4, Teredo), which could lead anywhere, are refused.
 */
export function destinationRefusal(address: string, allowed: string | null): string | null {
  if (!ipaddr.isValid(address)) return `"${address.slice(0, 60)}" is not an IP address`;
  const parsed = ipaddr.process(address);
  if (allowed !== null && isAddressAllowed(parsed.toString(), allowed)) return null;
  const range = parsed.range();
  if (range === 'unicast') return null;
  return `${parsed.toString()} is a ${RANGE_NAMES[range] ?? 'special-purpose'} address`;
}

/** Names that always mean this machine (RFC 6761), whatever a resolver says. */
export function isLoopbackName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}
