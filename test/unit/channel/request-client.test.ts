import { afterEach, describe, expect, it } from 'vitest';
import type { Report } from '../../../src/channel/channel-messages.js';
import { type ChannelMessage, createLineChannel } from '../../../src/channel/line-channel.js';
import { createRequestClient, RootUnavailable } from '../../../src/channel/request-client.js';
import { AppError } from '../../../src/errors.js';
import { codeOfAsync } from '../../support/error-codes.js';
import { connectedSocketPair } from '../../support/socket-pair.js';
import { waitFor } from '../../support/wait-for.js';

/** The asking side against a scripted root: the test reads the requests and writes the replies. */

let removals: (() => void)[] = [];
afterEach(() => {
  for (const remove of removals) remove();
  removals = [];
});

async function clientAndRoot() {
  const pair = await connectedSocketPair();
  removals.push(pair.remove);
  const requests: ChannelMessage[] = [];
  const drops: string[] = [];
  const client = createRequestClient(pair.near, { onDrop: (reason) => drops.push(reason) });
  const root = createLineChannel(pair.far, { onMessage: (message) => requests.push(message), onDrop: () => {} });
  function nextRequest(count: number): Promise<ChannelMessage> {
    return waitFor(`request ${count} to reach root (it has ${requests.length})`, () => requests[count - 1]);
  }
  return { client, root, requests, drops, nextRequest, rootSocket: pair.far };
}

describe('the request client', () => {
  it('sends type, id and fields, and resolves with the result of the reply with that id', async () => {
    const { client, root, nextRequest } = await clientAndRoot();
    const first = client.ask('restore-points', { host: 'web1' }, 5000);
    const second = client.ask('reconcile', {}, 5000);
    const firstRequest = await nextRequest(1);
    const secondRequest = await nextRequest(2);
    expect(firstRequest).toEqual({ type: 'restore-points', id: expect.any(String), host: 'web1' });
    expect(secondRequest.id).not.toBe(firstRequest.id);
    root.send({ type: 'reply', id: secondRequest.id, result: 'second' });
    root.send({ type: 'reply', id: firstRequest.id, result: { total: 0 } });
    expect(await first).toEqual({ total: 0 });
    expect(await second).toBe('second');
  });

  it('keeps type and id its own whatever the fields say', async () => {
    const { client, nextRequest } = await clientAndRoot();
    void client.ask('reconcile', { type: 'host.purge', id: 'chosen' }, 100).catch(() => {});
    const request = await nextRequest(1);
    expect(request.type).toBe('reconcile');
    expect(request.id).not.toBe('chosen');
  });

  it("rejects with root's error code and message", async () => {
    const { client, root, nextRequest } = await clientAndRoot();
    const asked = client.ask('check', { host: 'web1' }, 5000);
    root.send({ type: 'reply', id: (await nextRequest(1)).id, error: { code: 'HOST_IN_SESSION', message: 'busy' } });
    const error = await asked.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'HOST_IN_SESSION', message: 'busy' });
  });

  it('rejects with ROOT_UNAVAILABLE (timed out) when no reply comes in time, and lets a late reply go', async () => {
    const { client, root, nextRequest } = await clientAndRoot();
    const asked = client.ask('reconcile', {}, 30);
    const error = await asked.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RootUnavailable);
    expect(error).toMatchObject({ code: 'ROOT_UNAVAILABLE', timedOut: true });
    root.send({ type: 'reply', id: (await nextRequest(1)).id, result: null });
    // The channel is ordered: once a later ask is answered, the late reply has been read and let go.
    const later = client.ask('reconcile', {}, 5000);
    root.send({ type: 'reply', id: (await nextRequest(2)).id, result: 'later' });
    expect(await later).toBe('later');
  });

  it('rejects what waits with ROOT_UNAVAILABLE when root closes the channel, and what is asked afterwards', async () => {
    const { client, nextRequest, rootSocket } = await clientAndRoot();
    const asked = client.ask('reconcile', {}, 5000);
    await nextRequest(1);
    rootSocket.destroy();
    expect(await codeOfAsync(() => asked)).toBe('ROOT_UNAVAILABLE');
    await client.closed;
    expect(client.isClosed).toBe(true);
    expect(await codeOfAsync(() => client.ask('reconcile', {}, 5000))).toBe('ROOT_UNAVAILABLE');
  });

  it('hands reports to the push handlers, and drops what is neither a reply nor a report', async () => {
    const { client, root, drops } = await clientAndRoot();
    const reports: Report[] = [];
    const stop = client.onPush((report) => reports.push(report));
    root.send({ type: 'report', event: 'host.disabled', host: 'web1' });
    root.send({ type: 'surprise' });
    root.send({ type: 'reply', error: 'no id' });
    // Messages arrive in order: the second drop means the report before it was handed on.
    await waitFor('the two drops', () => (drops.length >= 2 ? true : undefined));
    expect(reports).toEqual([{ type: 'report', event: 'host.disabled', host: 'web1' }]);
    expect(drops).toEqual(['not-a-reply', 'not-a-reply']);
    stop();
    root.send({ type: 'report', event: 'ignored' });
    // A drop sent after it marks the moment the ignored report has been read.
    root.send({ type: 'surprise' });
    await waitFor('the drop sent after the ignored report', () => (drops.length >= 3 ? true : undefined));
    expect(reports).toHaveLength(1);
  });

  it('sends a message as it is', async () => {
    const { client, nextRequest } = await clientAndRoot();
    expect(client.send({ type: 'hello', value: 1 })).toBe(true);
    expect(await nextRequest(1)).toEqual({ type: 'hello', value: 1 });
  });
});
