#include "gateway/people_desk.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "common/timestamps.h"
#include "gateway/action_pages.h"
#include "gateway/forms.h"
#include "gateway/pages.h"
#include "gateway/transcode.h"
#include "httplib.h"
#include "perfflow/event/v1/event_service.pb.h"

namespace perfflow::gateway {
namespace t = perfflow::type::v1;
namespace ev = perfflow::event::v1;
namespace {

constexpr char kTokenCookie[] = "perfflow_token";
constexpr size_t kMaxSignInForm = 16 << 10;
// A signed-in session lasts as long as the token, and no longer than this.
constexpr absl::Duration kMaxSession = absl::Hours(12);

// Where to go after signing in: a page of ours, never another site.
std::string SafeNext(const std::string& next) {
  const bool ours = (absl::StartsWith(next, "/people/") || absl::StartsWith(next, "/act/")) &&
                    next.find("//") == std::string::npos && next.find('\\') == std::string::npos &&
                    next.find_first_of("\r\n") == std::string::npos;
  return ours ? next : "/people/inbox";
}

}  // namespace

struct PeopleDesk::Visit {
  const httplib::Request& req;
  httplib::Response& res;
  const httplib::ContentReader* body;
  PageLocale locale;
  const CallsAs& calls_as;
  // The gateway reading the directory for display names and languages.
  std::unique_ptr<PersonCalls> directory;

  void Html(int status, const std::string& page) {
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    res.set_content(page, kHtml);
  }
  void Fail(int status, const std::string& message) { Html(status, ErrorPage(status, message)); }
  // The directory's entries, looked up once per page (with the id only when unknown).
  const ev::Employee& Employee(const std::string& id) {
    auto it = people.find(id);
    if (it != people.end()) return it->second;
    ev::GetEmployeeRequest request;
    request.set_id(id);
    ev::GetEmployeeResponse response;
    if (!directory->Unary("/perfflow.event.v1.EventService/GetEmployee", request, &response).ok()) {
      response.mutable_employee()->set_id(id);
    }
    return people[id] = response.employee();
  }
  std::string Name(const std::string& id) {
    const ev::Employee& e = Employee(id);
    return e.display_name().empty() ? id : e.display_name();
  }
  // The page's language (the person's, from the directory, else the browser's) and the tenant's zone.
  PageLocale LocaleFor(const std::string& person, const std::string& time_zone) {
    return PageLocale(req.get_header_value("Accept-Language"), time_zone, Employee(person).language());
  }
  std::map<std::string, ev::Employee> people;
  // The tenant's registry as `person` reads it: the page's locale and the
  // event types' display names in it.
  PageLocale ReadRegistry(PersonCalls& calls, const std::string& person,
                          std::map<std::string, std::string>* type_names) {
    ev::GetRegistryResponse registry;
    calls.Unary("/perfflow.event.v1.EventService/GetRegistry", ev::GetRegistryRequest(), &registry);
    PageLocale locale = LocaleFor(person, registry.registry().settings().time_zone());
    *type_names = TypeNames(registry.registry(), locale);
    return locale;
  }
};

PeopleDesk::PeopleDesk(std::optional<ActionLinkKeys> keys, std::vector<SignInLink> sign_in_links,
                       std::shared_ptr<Door> door)
    : keys_(std::move(keys)), sign_in_links_(std::move(sign_in_links)), door_(std::move(door)) {}

bool PeopleDesk::Serves(absl::string_view page) {
  if (absl::ConsumePrefix(&page, "chains/")) return !page.empty() && page.find('/') == absl::string_view::npos;
  return page == "sign-in" || page == "sign-out" || page == "inbox" || page == "team";
}

ActionDesk::Outcome PeopleDesk::Serve(const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader* body, absl::string_view page,
                                      const CallsAs& calls_as) {
  ActionDesk::Outcome out;
  const bool chain = absl::StartsWith(page, "chains/");
  out.route = absl::StrCat(req.method, " /people/", chain ? "chains/{event}" : page);
  Visit visit{req, res, body, PageLocale(req.get_header_value("Accept-Language"), ""), calls_as, nullptr, {}};
  const PageLocale& l = visit.locale;
  const bool takes_post = page == "sign-in" || page == "sign-out";
  if (req.method != "GET" && !(takes_post && req.method == "POST")) {
    res.set_header("Allow", page == "sign-out" ? "POST" : takes_post ? "GET, POST" : "GET");
    visit.Fail(405, l.T("不支持此请求方法。", "This method is not allowed here."));
    return out;
  }
  if (page == "sign-out") {
    if (req.method != "POST") {
      res.set_header("Allow", "POST");
      visit.Fail(405, l.T("请用页面上的按钮退出。", "Sign out with the page's button."));
      return out;
    }
    res.set_header("Set-Cookie", absl::StrCat(kTokenCookie, "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"));
    res.set_redirect("/people/sign-in", 303);
    return out;
  }
  if (page == "sign-in") {
    if (req.method == "POST") {
      SignIn(visit);
    } else {
      SignInPage(visit, 200, "");
    }
    return out;
  }
  // The inbox and the team: signed in with a token (cookie or header).
  std::string authorization = req.get_header_value("Authorization");
  const std::string cookie = CookieValue(req.get_header_value("Cookie"), kTokenCookie);
  if (authorization.empty() && !cookie.empty()) authorization = "Bearer " + cookie;
  auto person = door_->Authenticate(authorization, "");
  if (!person.ok()) {
    // A person is sent to sign in, and brought back here after.
    res.set_redirect(absl::StrCat("/people/sign-in?next=/people/", page), 303);
    return out;
  }
  out.credential = person->credential;
  visit.directory = calls_as(SystemPrincipal(person->tenant, "gateway:people-pages", person->credential));
  if (absl::Status s = door_->Admit(person->credential, "http"); !s.ok()) {
    visit.Fail(RefuseHttp(s, res), TooManyRequests(l));
    return out;
  }
  if (page == "inbox") {
    Inbox(visit, *person);
  } else if (chain) {
    Chain(visit, *person, std::string(page.substr(std::string("chains/").size())));
  } else {
    Team(visit, *person);
  }
  return out;
}

void PeopleDesk::SignInPage(Visit& visit, int status, const std::string& error) {
  std::vector<std::pair<std::string, std::string>> links;
  for (const auto& link : sign_in_links_) links.emplace_back(link.label, link.url);
  visit.Html(status,
             perfflow::gateway::SignInPage(links, SafeNext(visit.req.get_param_value("next")), error, visit.locale));
}

void PeopleDesk::SignIn(Visit& visit) {
  const PageLocale& l = visit.locale;
  auto form = ReadForm(visit.req, visit.body, kMaxSignInForm);
  if (!form.ok()) {
    return SignInPage(visit, HttpStatusFor(ToGrpcStatus(form.status()).error_code()),
                      std::string(form.status().message()));
  }
  // An OIDC provider posts id_token (response_mode=form_post); a person may paste a token.
  std::string token = First(*form, "id_token");
  if (token.empty()) token = First(*form, "token");
  token.erase(std::remove_if(token.begin(), token.end(), [](char c) { return c == ' ' || c == '\n' || c == '\r'; }),
              token.end());
  if (token.empty()) return SignInPage(visit, 400, l.T("请提供令牌。", "A token is required."));
  auto person = door_->Authenticate("Bearer " + token, "");
  if (!person.ok()) {
    return SignInPage(visit, 401, absl::StrCat(l.T("登录失败：", "Sign-in failed: "), person.status().message()));
  }
  const absl::Duration left = std::min(person->expires_at - door_->clock().Now(), kMaxSession);
  // Secure when the gateway is reached over HTTPS (its ingress says so).
  const bool https = visit.req.get_header_value("X-Forwarded-Proto") == "https";
  visit.res.set_header("Set-Cookie", absl::StrCat(kTokenCookie, "=", token, "; Path=/; Max-Age=",
                                                  std::max<int64_t>(0, absl::ToInt64Seconds(left)),
                                                  "; HttpOnly; SameSite=Lax", https ? "; Secure" : ""));
  visit.res.set_redirect(SafeNext(First(*form, "next")), 303);
}

void PeopleDesk::Inbox(Visit& visit, const Principal& person) {
  std::unique_ptr<PersonCalls> calls = visit.calls_as(person);
  ev::ListTasksRequest list;
  list.set_assignee_id(person.subject);
  list.set_page_size(500);
  ev::ListTasksResponse tasks;
  if (grpc::Status s = calls->Unary("/perfflow.event.v1.EventService/ListTasks", list, &tasks); !s.ok()) {
    return visit.Fail(HttpStatusFor(s.error_code()), Explain(s));
  }
  std::map<std::string, std::string> type_names;
  const PageLocale locale = visit.ReadRegistry(*calls, person.subject, &type_names);
  // Each task's link lasts as long as the sign-in.
  const absl::Time expires = std::min(person.expires_at, door_->clock().Now() + kMaxSession);
  auto link_of = [&](const ev::Task& task) -> std::string {
    if (!keys_) return "";
    return "/act/" +
           keys_->Sign({person.tenant, task.name().substr(std::string("tasks/").size()), person.subject, expires});
  };
  visit.Html(200, InboxPage(tasks, type_names, link_of, visit.Name(person.subject), locale));
}

void PeopleDesk::Team(Visit& visit, const Principal& person) {
  // The services decide: a manager sees their direct reports' chains.
  Principal manager = person;
  if (std::find(manager.roles.begin(), manager.roles.end(), "manager") == manager.roles.end()) {
    manager.roles.push_back("manager");
  }
  std::unique_ptr<PersonCalls> calls = visit.calls_as(manager);
  std::map<std::string, std::string> type_names;
  const PageLocale locale = visit.ReadRegistry(*calls, person.subject, &type_names);

  TeamView team;
  team.manager_name = visit.Name(person.subject);
  ev::ListEmployeesRequest reports_request;
  reports_request.set_manager_id(person.subject);
  reports_request.set_page_size(500);
  ev::ListEmployeesResponse reports;
  if (grpc::Status s = calls->Unary("/perfflow.event.v1.EventService/ListEmployees", reports_request, &reports);
      !s.ok()) {
    return visit.Fail(HttpStatusFor(s.error_code()), Explain(s));
  }
  const absl::Time now = door_->clock().Now();
  const absl::Time expires = std::min(person.expires_at, now + kMaxSession);
  for (const auto& report : reports.employees()) {
    TeamView::Member member;
    member.name = report.display_name().empty() ? report.id() : report.display_name();
    ev::ListEventsRequest list;
    list.set_subject_id(report.id());
    list.set_page_size(200);
    ev::ListEventsResponse events;
    if (grpc::Status s = calls->Unary("/perfflow.event.v1.EventService/ListEvents", list, &events); !s.ok()) {
      return visit.Fail(HttpStatusFor(s.error_code()), Explain(s));
    }
    for (const auto& event : events.events()) {
      if (event.flow().step() == t::FLOW_STEP_ARCHIVED) continue;
      ++member.open_chains;
      auto type_name = type_names.find(event.event_type());
      TeamView::Row waiting;
      waiting.owner_name = member.name;
      waiting.event_type_name = type_name != type_names.end() ? type_name->second : event.event_type();
      bool any_open = false;
      for (const auto& task : event.tasks()) {
        if (task.state() != t::TASK_STATE_OPEN) continue;
        any_open = true;
        TeamView::Row row = waiting;
        row.waiting_on_name = visit.Name(task.assignee_id());
        row.kind = task.kind();
        row.due = FromTimestamp(task.due_at());
        row.overdue = task.overdue();
        member.late += task.overdue() ? 1 : 0;
        if (keys_ && task.assignee_id() == person.subject) {
          row.link = "/act/" + keys_->Sign({person.tenant, task.name().substr(std::string("tasks/").size()),
                                            person.subject, expires});
        }
        team.rows.push_back(std::move(row));
      }
      if (!any_open) team.rows.push_back(std::move(waiting));
    }
    team.members.push_back(std::move(member));
  }
  std::stable_sort(team.rows.begin(), team.rows.end(), [](const TeamView::Row& a, const TeamView::Row& b) {
    if (a.overdue != b.overdue) return a.overdue;
    return a.due.value_or(absl::InfiniteFuture()) < b.due.value_or(absl::InfiniteFuture());
  });
  visit.Html(200, TeamPage(team, locale));
}

void PeopleDesk::Chain(Visit& visit, const Principal& person, const std::string& event_id) {
  // The event service decides who may read the chain (HR, the owner, the owner's manager, ...).
  std::unique_ptr<PersonCalls> calls = visit.calls_as(person);
  std::map<std::string, std::string> type_names;
  const PageLocale locale = visit.ReadRegistry(*calls, person.subject, &type_names);
  visit.locale = locale;
  ev::GetEventRequest request;
  request.set_name("events/" + event_id);
  ev::GetEventResponse response;
  if (grpc::Status s = calls->Unary("/perfflow.event.v1.EventService/GetEvent", request, &response); !s.ok()) {
    return visit.Fail(HttpStatusFor(s.error_code()), Explain(s));
  }
  ChainView chain;
  chain.event = response.event();
  auto type_name = type_names.find(chain.event.event_type());
  chain.type_name = type_name != type_names.end() ? type_name->second : chain.event.event_type();
  chain.owner_name = visit.Name(chain.event.subject_id());
  for (const auto& task : chain.event.tasks()) chain.names[task.assignee_id()] = visit.Name(task.assignee_id());
  visit.Html(200, ChainPage(chain, locale));
}

}  // namespace perfflow::gateway
