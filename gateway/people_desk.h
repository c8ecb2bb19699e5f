#pragma once

// Pages for people signed in with the configured JWT issuer (the
// perfflow_token cookie, or a bearer token):
//   GET  /people/sign-in    how to sign in: the issuers' sign-in links, or a token to paste
//   POST /people/sign-in    takes `id_token` (an OIDC form_post) or `token`, sets the cookie, goes on to `next`
//   POST /people/sign-out   clears the cookie
//   GET  /people/inbox      the person's open tasks, each with its action link
//   GET  /people/team       a manager's direct reports: their open chains, who each waits on, who is late
//   GET  /people/chains/{event}  one chain: its steps and times, tasks and verdict (the brief links here)
// The services' own rules decide what a person sees (a manager sees their
// reports only); the directory is read for display names.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/action_link.h"
#include "gateway/action_desk.h"
#include "gateway/door.h"

namespace perfflow::gateway {

struct SignInLink {
  std::string label;
  std::string url;
};

class PeopleDesk {
 public:
  // Without `keys`, tasks are listed without links.
  PeopleDesk(std::optional<ActionLinkKeys> keys, std::vector<SignInLink> sign_in_links, std::shared_ptr<Door> door);

  // Whether /people/{page} is one of this desk's (`page` may be "chains/{event}").
  static bool Serves(absl::string_view page);

  // `page` is the path after "/people/".
  ActionDesk::Outcome Serve(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* body,
                            absl::string_view page, const CallsAs& calls_as);

 private:
  struct Visit;
  void SignInPage(Visit& visit, int status, const std::string& error);
  void SignIn(Visit& visit);
  void Inbox(Visit& visit, const Principal& person);
  void Team(Visit& visit, const Principal& person);
  void Chain(Visit& visit, const Principal& person, const std::string& event_id);

  std::optional<ActionLinkKeys> keys_;
  std::vector<SignInLink> sign_in_links_;
  std::shared_ptr<Door> door_;
};

}  // namespace perfflow::gateway
