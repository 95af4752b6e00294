/**
 * What a peer registers with, for tests that drive the registry in process.
 *
 * @module
 */

/** A registration in `/w`, outside any git repository, with no summary and channels off. */
export const REGISTRATION = {
  pid: 1,
  cwd: "/w",
  git_root: null,
  repo: null,
  branch: null,
  tty: null,
  summary: "",
  channel: false,
};
