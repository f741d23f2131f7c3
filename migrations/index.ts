import { Knex } from 'knex';
import * as m001 from './20261122_001_users';
import * as m002 from './20261122_002_sessions';
import * as m003 from './20261122_003_login_throttles';
import * as m004 from './20261122_004_oauth';
import * as m005 from './20261122_005_recipes';
import * as m006 from './20261201_006_users_email_canonical';
import * as m007 from './20261201_007_client_resource_server';
import * as m008 from './20261201_008_users_email_verified';
import * as m008b from './20261201_008b_account_tokens';
import * as m008c from './20261201_008c_sessions_user_id';
import * as m009 from './20261201_009_link_events';
import * as m010 from './20261201_010_identity_providers';
import * as m011 from './20261201_011_bridges';
import * as m012 from './20261201_012_bridge_gaps';
import * as m013 from './20261201_013_token_revocation_indexes';

/** Every migration, by name. Append only: a landed migration is never edited. */
export const migrations: Record<string, Knex.Migration> = {
  '20261122_001_users': m001,
  '20261122_002_sessions': m002,
  '20261122_003_login_throttles': m003,
  '20261122_004_oauth': m004,
  '20261122_005_recipes': m005,
  '20261201_006_users_email_canonical': m006,
  '20261201_007_client_resource_server': m007,
  '20261201_008_users_email_verified': m008,
  '20261201_008b_account_tokens': m008b,
  '20261201_008c_sessions_user_id': m008c,
  '20261201_009_link_events': m009,
  '20261201_010_identity_providers': m010,
  '20261201_011_bridges': m011,
  '20261201_012_bridge_gaps': m012,
  '20261201_013_token_revocation_indexes': m013,
};
