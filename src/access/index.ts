// Access control (issue 18): rules, their sources and the decision. README, Access control describes the surfaces.
export { AccessControl, AccessSubject, DEFAULT_ACCESS_LIMITS, type AccessChange, type AccessLimits, type FilterVerdict } from './engine.js';
export { parseAcl, AclError, ACL_LIMITS, RuleSet, type Rule, type RateRule, type Effect } from './rules.js';
export { parseGrants, GrantsError, type Grants } from './grants.js';
export { RIGHTS, type Right } from './rights.js';
export type { SubjectFacts } from './subject.js';
export {
  callKey,
  sendKey,
  objectOfKey,
  channelFilter,
  homeFilter,
  cidFilter,
  exactFilter,
  type AccessFilter,
  type AccessObject,
} from './pattern.js';
export { AccessDenials, DENIAL_LINES_PER_SECOND } from './denials.js';
export { accessCheck, type AccessCheck, type AccessIdentity } from './check.js';
