import { enrollmentApprovalUrl, QUOTA_HIGH_FRACTION, TEST_EVENT_TYPE } from '../../domain/notification-events.js';
import { humanBytes, humanDuration, utcTime } from '../web/format.js';

/** An event as a person reads it in a chat or on a phone: what a message format sends. */
export interface EventMessage {
  /** One short line, ASCII: the host and what happened. */
  title: string;
  /** One or two sentences. */
  text: string;
  /** Where to act on it: the host's page, or the enrollment's. */
  link: string;
  /** ntfy tags: an emoji short code for what kind of news it is, and the event type. */
  tags: string[];
}

/** The details an event carries, as read back from its queued body: nothing in them is trusted to have a type. */
type EventData = Record<string, unknown>;

/** Longest free text (a deny reason, a check's detail) quoted in a message. */
const MAX_QUOTED_LENGTH = 300;

function textOf(data: EventData, key: string): string | null {
  const value = data[key];
  return typeof value === 'string' && value.length > 0 ? value : null;
}

function numberOf(data: EventData, key: string): number | null {
  const value = data[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function timeOf(data: EventData, key: string): string | null {
  const value = textOf(data, key);
  const at = value === null ? null : new Date(value);
  return at === null || Number.isNaN(at.getTime()) ? null : utcTime(at);
}

/** Free text on one line, cut to a length a message can carry. */
function quoted(value: string): string {
  const line = value.replace(/\s+/g, ' ').trim();
  return line.length > MAX_QUOTED_LENGTH ? `${line.slice(0, MAX_QUOTED_LENGTH - 1)}…` : line;
}

function hostPageUrl(publicUrl: string, host: string): string {
  return `${publicUrl}/ui/hosts/${encodeURIComponent(host)}`;
}

function enrollmentLink(publicUrl: string, data: EventData, host: string): string {
  const id = textOf(data, 'enrollmentId');
  return id === null ? hostPageUrl(publicUrl, host) : enrollmentApprovalUrl(publicUrl, id);
}

/** What the message of each event type says, given its host and details. */
function describe(type: string, host: string, data: EventData, publicUrl: string): Omit<EventMessage, 'tags'> & { emoji: string } {
  const by = textOf(data, 'by');
  switch (type) {
    case 'enrollment.pending': {
      const key = [textOf(data, 'keyType'), textOf(data, 'fingerprint')].filter((part) => part !== null).join(' ');
      const from = textOf(data, 'sourceAddress');
      const expires = timeOf(data, 'expiresAt');
      const conflict = data.conflict === true ? ` It would replace the key of the existing host ${host}.` : '';
      return {
        emoji: 'key',
        title: `${host} asks to enroll`,
        text:
          `Host ${host} asks to enroll${key ? ` with key ${key}` : ''}${from ? ` from ${from}` : ''}.${conflict}` +
          ` Approve or deny it on the page${expires ? ` before ${expires}` : ''}.`,
        link: textOf(data, 'approvalUrl') ?? enrollmentLink(publicUrl, data, host),
      };
    }
    case 'enrollment.approved':
      return {
        emoji: 'white_check_mark',
        title: `${host} enrolled`,
        text:
          data.replacedKey === true
            ? `The new key of host ${host} was approved${by ? ` by ${by}` : ''}; its old key no longer works.`
            : `Host ${host} was enrolled${by ? `, approved by ${by}` : ''}.`,
        link: hostPageUrl(publicUrl, host),
      };
    case 'enrollment.denied': {
      const reason = textOf(data, 'reason');
      return {
        emoji: 'no_entry',
        title: `${host} enrollment denied`,
        text: `The enrollment of host ${host} was denied${by ? ` by ${by}` : ''}${reason ? `: ${quoted(reason)}` : '.'}`,
        link: enrollmentLink(publicUrl, data, host),
      };
    }
    case 'host.stale': {
      const lastBackup = timeOf(data, 'lastBackupAt');
      const every = numberOf(data, 'expectBackupEverySeconds');
      const outcome = textOf(data, 'lastSessionOutcome');
      return {
        emoji: 'warning',
        title: `${host} is stale`,
        text:
          `Host ${host} has not backed up ${lastBackup ? `since ${lastBackup}` : 'yet'}` +
          `${every === null ? '' : ` (expected every ${humanDuration(every)})`}.` +
          `${outcome ? ` Its last session: ${outcome}.` : ''}`,
        link: hostPageUrl(publicUrl, host),
      };
    }
    case 'host.recovered': {
      const lastBackup = timeOf(data, 'lastBackupAt');
      return {
        emoji: 'white_check_mark',
        title: `${host} recovered`,
        text: `Host ${host} is backing up again${lastBackup ? `: last backup ${lastBackup}` : ''}.`,
        link: hostPageUrl(publicUrl, host),
      };
    }
    case 'host.quota.high': {
      const used = numberOf(data, 'repositoryBytes');
      const quota = numberOf(data, 'quotaBytes');
      const share = used !== null && quota ? ` (${Math.floor((used / quota) * 100)} %)` : '';
      return {
        emoji: 'warning',
        title: `${host} quota above ${Math.round(QUOTA_HIGH_FRACTION * 100)} %`,
        text: `The repository of host ${host} uses ${humanBytes(used)} of its ${humanBytes(quota)} quota${share}.`,
        link: hostPageUrl(publicUrl, host),
      };
    }
    case 'host.quota.disabled':
      return {
        emoji: 'rotating_light',
        title: `${host} disabled: over quota`,
        text: `Host ${host} was disabled: its repository is over its ${humanBytes(numberOf(data, 'quotaBytes'))} storage quota on disk.`,
        link: hostPageUrl(publicUrl, host),
      };
    case 'host.config-churn.disabled': {
      const versions = numberOf(data, 'versionsKept');
      return {
        emoji: 'rotating_light',
        title: `${host} disabled: config churn`,
        text:
          `Host ${host} was disabled: its repository config (its key) kept changing` +
          `${versions === null ? '' : ` (${versions} versions kept)`}. Look at the host before you enable it again.`,
        link: hostPageUrl(publicUrl, host),
      };
    }
    case 'host.check.failed': {
      const detail = textOf(data, 'detail');
      return {
        emoji: 'rotating_light',
        title: `${host} check failed`,
        text: `The integrity check of the repository of host ${host} failed${detail ? `: ${quoted(detail)}` : '.'}`,
        link: hostPageUrl(publicUrl, host),
      };
    }
    case 'backup.completed': {
      const added = numberOf(data, 'bytesAdded');
      const size = numberOf(data, 'repositoryBytes');
      return {
        emoji: 'floppy_disk',
        title: `${host} backed up`,
        text:
          `Host ${host} completed a backup${added === null ? '' : `: ${humanBytes(added)} added`}` +
          `${size === null ? '' : `, the repository holds ${humanBytes(size)}`}.`,
        link: hostPageUrl(publicUrl, host),
      };
    }
    default:
      return { emoji: 'bell', title: `${host}: ${type}`, text: `Event ${type} for host ${host}.`, link: hostPageUrl(publicUrl, host) };
  }
}

/**
 * The message of a queued event body (`{ type, timestamp, data: { host, … } }`, as
 * renderEventPayload wrote it), with links under the server's public URL. Pure: the same body
 * gives the same message, so every retry sends the same words.
 */
export function describeEventPayload(payload: string, publicUrl: string): EventMessage {
  const parsed = JSON.parse(payload) as { type?: unknown; data?: unknown };
  const type = typeof parsed.type === 'string' ? parsed.type : 'event';
  const data: EventData = typeof parsed.data === 'object' && parsed.data !== null ? (parsed.data as EventData) : {};
  const host = textOf(data, 'host');
  if (type === TEST_EVENT_TYPE || host === null) {
    const by = textOf(data, 'by');
    const isTest = type === TEST_EVENT_TYPE;
    return {
      title: isTest ? 'Test message' : type,
      text: isTest ? `A test message from secure-borg-server${by ? `, sent by ${by}` : ''}.` : `Event ${type}.`,
      link: `${publicUrl}/ui/webhooks`,
      tags: ['bell', type],
    };
  }
  const { emoji, ...message } = describe(type, host, data, publicUrl);
  return { ...message, tags: [emoji, type] };
}
