import { LINK_EVENT_LABELS } from '../oauth/timeline/link-event';
import { Command, requireString } from './command';

const when = (d: Date) => d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');

const linksShow: Command = {
  name: 'links:show',
  summary: "A user's links with their timelines (authorization, sign-in, consent, codes, refreshes, revocation, skill events)",
  usage: 'links:show --email E [--client-id C] [--json]',
  options: { email: { type: 'string' }, 'client-id': { type: 'string' } },
  async run(ctx, { values }) {
    const email = requireString(values, 'email');
    const clientId = typeof values['client-id'] === 'string' ? values['client-id'] : undefined;
    const { user, links } = await ctx.services.timeline.show(email, clientId);
    // Oldest first, as a log reads.
    const data = {
      user: { id: user.id, email: user.email },
      links: links.map((l) => ({
        client: { client_id: l.client.clientId, name: l.client.name },
        grants: l.grants.map((g) => ({
          id: g.id,
          scope: g.scope,
          created_at: g.createdAt.toISOString(),
          revoked_at: g.revokedAt?.toISOString() ?? null,
          alexa_linked_at: g.alexaLinkedAt?.toISOString() ?? null,
        })),
        events: [...l.events].reverse().map((e) => ({ at: e.occurredAt.toISOString(), type: e.type, reason: e.reason, grant_id: e.grantId })),
      })),
    };
    const human = links.length
      ? links
          .map((l) =>
            [
              `${user.email} with ${l.client.name} (${l.client.clientId})`,
              ...(l.grants.length
                ? l.grants.map((g) => `  grant ${g.id}: linked ${when(g.createdAt)}${g.revokedAt ? `, revoked ${when(g.revokedAt)}` : ', live'}${g.alexaLinkedAt ? `, confirmed by Alexa ${when(g.alexaLinkedAt)}` : ''}`)
                : ['  no grant yet']),
              ...(l.events.length
                ? [...l.events].reverse().map((e) => `  ${when(e.occurredAt)}  ${LINK_EVENT_LABELS[e.type] ?? e.type}${e.reason ? `: ${e.reason}` : ''}${e.grantId !== null ? `  [grant ${e.grantId}]` : ''}`)
                : ['  no events kept']),
            ].join('\n'),
          )
          .join('\n\n')
      : `${user.email} has no links${clientId ? ' with that client' : ''}.`;
    ctx.out(human, data);
  },
};

export const linkCommands: Command[] = [linksShow];
