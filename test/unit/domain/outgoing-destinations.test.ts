import { describe, expect, it } from 'vitest';
import { destinationRefusal } from '../../../src/domain/outgoing-destinations.js';

describe('destinationRefusal', () => {
  it.each(['8.8.8.8', '93.184.215.14', '2606:4700::1111'])('lets %s through: a public address', (address) => {
    expect(destinationRefusal(address, null)).toBeNull();
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd00::1', 'unique-local'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['192.168.1.1', 'private'],
    ['::ffff:192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['64:ff9b::7f00:1', 'special-purpose'],
    ['2002:7f00:1::1', 'special-purpose'],
  ])('refuses %s: %s', (address, kind) => {
    expect(destinationRefusal(address, null)).toMatch(new RegExp(` is an? ${kind} address$`));
  });

  it('lets an address of an allowed range through, and only of that range', () => {
    expect(destinationRefusal('127.0.0.1', '127.0.0.0/8')).toBeNull();
    expect(destinationRefusal('::ffff:127.0.0.1', '127.0.0.0/8')).toBeNull();
    expect(destinationRefusal('192.168.10.20', '192.168.10.0/24,fd00::/8')).toBeNull();
    expect(destinationRefusal('fd00::5', '192.168.10.0/24,fd00::/8')).toBeNull();
    expect(destinationRefusal('::1', '127.0.0.0/8')).toMatch(/loopback/);
    expect(destinationRefusal('192.168.11.20', '192.168.10.0/24')).toMatch(/private/);
  });

  it('refuses what is not an address', () => {
    expect(destinationRefusal('example.test', null)).toMatch(/not an IP address/);
  });
});
