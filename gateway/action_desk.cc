#include "gateway/action_desk.h"

#include <map>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "gateway/action_pages.h"
#include "gateway/forms.h"
#include "gateway/pages.h"
#include "gateway/transcode.h"
#include "httplib.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "perfflow/evidence/v1/evidence_service.pb.h"
#include "perfflow/feedback/v1/feedback_service.pb.h"

namespace perfflow::gateway {
namespace t = perfflow::type::v1;
namespace ev = perfflow::event::v1;
namespace evd = perfflow::evidence::v1;
namespace fb = perfflow::feedback::v1;
namespace {

constexpr char kSessionCookie[] = "perfflow_action";
constexpr size_t kUploadChunk = 64 << 10;

grpc::Status Refused(grpc::StatusCode code, const std::string& message) { return grpc::Status(code, message); }

}  // namespace

// One request to the desk: the link, the person, and what the page shows.
struct ActionDesk::Visit {
  const httplib::Request& req;
  httplib::Response& res;
  const httplib::ContentReader* body;
  std::string token;
  ActionLink link;
  PageLocale locale;
  const CallsAs* calls_as;
  Principal principal;                  // the link's person
  std::unique_ptr<PersonCalls> person;  // acts as `principal`
  std::unique_ptr<PersonCalls> system;  // reads display names
  TaskView view;

  void Fail(int status, const std::string& message) {
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    res.set_header("Referrer-Policy", "no-referrer");  // the URL holds the token
    res.set_content(ErrorPage(status, message), kHtml);
  }
  void FailCall(const grpc::Status& s) { Fail(HttpStatusFor(s.error_code()), Explain(s)); }
  void Html(int status, const std::string& page) {
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    res.set_header("Referrer-Policy", "no-referrer");  // SOP links must not carry the token away
    res.set_content(page, kHtml);
  }
  void Page(int status, const FormState& form) { Html(status, TaskPage(view, form, locale)); }
  // The page again, with why the post was refused and what was entered.
  void Refuse(const grpc::Status& s, FormState form) {
    form.error = Explain(s);
    Page(HttpStatusFor(s.error_code()), form);
  }
  // The directory's entry (an empty one, with the id, when unknown).
  ev::Employee Employee(const std::string& employee_id) {
    ev::GetEmployeeRequest request;
    request.set_id(employee_id);
    ev::GetEmployeeResponse response;
    if (!system->Unary("/perfflow.event.v1.EventService/GetEmployee", request, &response).ok()) {
      response.mutable_employee()->set_id(employee_id);
    }
    return response.employee();
  }
  std::string DisplayName(const std::string& employee_id) {
    ev::Employee e = Employee(employee_id);
    return e.display_name().empty() ? employee_id : e.display_name();
  }
  // The page's language and the tenant's zone.
  void Localize(const std::string& time_zone) {
    locale = PageLocale(req.get_header_value("Accept-Language"), time_zone, person_language);
  }
  std::string person_language;  // from the directory
};

ActionDesk::ActionDesk(ActionLinkKeys keys, ActionDeskOptions options, std::shared_ptr<Door> door)
    : keys_(std::move(keys)), options_(options), door_(std::move(door)) {}

ActionDesk::Outcome ActionDesk::Serve(const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader* body, absl::string_view rest,
                                      const CallsAs& calls_as) {
  Outcome out;
  std::vector<std::string> parts = absl::StrSplit(rest, '/');
  const bool guidance = parts.size() == 2 && parts[1] == "guidance";
  Visit visit{req,       res, body,    parts[0], {}, PageLocale(req.get_header_value("Accept-Language"), ""),
              &calls_as, {},  nullptr, nullptr,  {}, {}};
  const PageLocale& l = visit.locale;
  out.route = guidance ? "POST /act/{token}/guidance" : absl::StrCat(req.method, " /act/{token}");
  if (visit.token.empty() || parts.size() > 2 || (parts.size() == 2 && !guidance)) {
    out.route = "unmatched";
    visit.Fail(404, l.T("没有这个页面。", "No such page."));
    return out;
  }
  if (guidance ? req.method != "POST" : req.method != "GET" && req.method != "POST") {
    res.set_header("Allow", guidance ? "POST" : "GET, POST");
    visit.Fail(405, l.T("不支持此请求方法。", "This method is not allowed here."));
    return out;
  }
  auto link = keys_.Verify(visit.token, door_->clock().Now());
  if (absl::IsDeadlineExceeded(link.status())) {
    visit.Fail(410, l.T("链接已过期，请从收件箱打开任务。", "This link has expired: open the task from your inbox."));
    return out;
  }
  if (!link.ok()) {
    visit.Fail(403, l.T("链接无效。", "This link is not valid."));
    return out;
  }
  visit.link = *std::move(link);
  // Someone signed in as another person does not act on this person's task.
  const std::string signed_in_token = CookieValue(req.get_header_value("Cookie"), "perfflow_token");
  if (!signed_in_token.empty()) {
    auto signed_in = door_->Authenticate("Bearer " + signed_in_token, "");
    if (signed_in.ok() && (signed_in->subject != visit.link.person || signed_in->tenant != visit.link.tenant)) {
      visit.Fail(403, l.T("此链接属于他人。", "This link is for someone else."));
      return out;
    }
  }
  out.credential = absl::StrCat("link:", visit.link.tenant, ":", visit.link.person);
  if (absl::Status s = door_->Admit(out.credential, "http"); !s.ok()) {
    visit.Fail(RefuseHttp(s, res), TooManyRequests(l));
    return out;
  }
  // A post needs the session the link's page opened (a cross-site form
  // carries no such cookie).
  if (req.method == "POST" && !visit.link.task_id.empty() &&
      CookieValue(req.get_header_value("Cookie"), kSessionCookie) != visit.token) {
    visit.Fail(403, l.T("会话已过期，请重新打开链接。", "Your session has expired: open the link again."));
    return out;
  }
  // The link speaks for its person and this task only.
  visit.principal.tenant = visit.link.tenant;
  visit.principal.subject = visit.link.person;
  visit.principal.roles = {"employee"};
  visit.principal.credential = out.credential;
  visit.person = calls_as(visit.principal);
  visit.system = calls_as(SystemPrincipal(visit.link.tenant, "gateway:action-pages", out.credential));
  const ev::Employee me = visit.Employee(visit.link.person);
  visit.view.person_name = me.display_name().empty() ? me.id() : me.display_name();
  visit.person_language = me.language();
  visit.Localize("");
  if (visit.link.task_id.empty()) {
    if (req.method != "GET") {
      res.set_header("Allow", "GET");
      visit.Fail(405, l.T("收件箱只能查看。", "The inbox takes GET."));
    } else {
      ServeInbox(visit);
    }
    return out;
  }
  ServeTask(visit);
  return out;
}

void ActionDesk::ServeInbox(Visit& visit) {
  ev::ListTasksRequest list;
  list.set_assignee_id(visit.link.person);
  list.set_state(t::TASK_STATE_OPEN);
  list.set_page_size(500);
  ev::ListTasksResponse tasks;
  if (grpc::Status s = visit.person->Unary("/perfflow.event.v1.EventService/ListTasks", list, &tasks); !s.ok()) {
    return visit.FailCall(s);
  }
  ev::GetRegistryResponse registry;
  visit.person->Unary("/perfflow.event.v1.EventService/GetRegistry", ev::GetRegistryRequest(), &registry);
  visit.Localize(registry.registry().settings().time_zone());
  const PageLocale& locale = visit.locale;
  const std::map<std::string, std::string> type_names = TypeNames(registry.registry(), locale);
  // Each task gets its own link, valid as long as this one.
  auto link_of = [&](const ev::Task& task) {
    return "/act/" + keys_.Sign({visit.link.tenant, task.name().substr(std::string("tasks/").size()), visit.link.person,
                                 visit.link.expires_at});
  };
  visit.Html(200, InboxPage(tasks, type_names, link_of, visit.view.person_name, locale));
}

bool ActionDesk::Load(Visit& visit) {
  TaskView& view = visit.view;
  ev::GetTaskRequest get_task;
  get_task.set_name("tasks/" + visit.link.task_id);
  ev::GetTaskResponse got_task;
  if (grpc::Status s = visit.person->Unary("/perfflow.event.v1.EventService/GetTask", get_task, &got_task); !s.ok()) {
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      visit.Fail(404, visit.locale.T("没有这个任务。", "There is no such task."));
    } else {
      visit.FailCall(s);
    }
    return false;
  }
  view.task = got_task.task();
  if (view.task.assignee_id() != visit.link.person) {
    visit.Fail(403, visit.locale.T("链接无效。", "This link is not valid."));
    return false;
  }
  // A manager's review link reads the report's record as their manager
  // (the services still check that the report is theirs).
  auto& roles = visit.principal.roles;
  if (view.task.kind() == t::TASK_KIND_MANAGER_REVIEW &&
      std::find(roles.begin(), roles.end(), "manager") == roles.end()) {
    roles.push_back("manager");
    visit.person = (*visit.calls_as)(visit.principal);
  }
  ev::GetEventRequest get_event;
  get_event.set_name(view.task.event());
  ev::GetEventResponse got_event;
  if (grpc::Status s = visit.person->Unary("/perfflow.event.v1.EventService/GetEvent", get_event, &got_event);
      !s.ok()) {
    visit.FailCall(s);
    return false;
  }
  view.event = got_event.event();
  ev::GetRegistryResponse registry;
  visit.person->Unary("/perfflow.event.v1.EventService/GetRegistry", ev::GetRegistryRequest(), &registry);
  for (const auto& type : registry.registry().event_types()) {
    if (type.key() == view.event.event_type()) view.type = type;
  }
  visit.Localize(registry.registry().settings().time_zone());
  view.owner_name = visit.DisplayName(view.event.subject_id());
  view.self_url = "/act/" + visit.token;
  view.inbox_url = "/act/" + keys_.Sign({visit.link.tenant, "", visit.link.person, visit.link.expires_at});
  evd::ListEvidenceRequest list;
  list.set_event(view.event.name());
  evd::ListEvidenceResponse evidence;
  view.evidence.clear();
  if (visit.person->Unary("/perfflow.evidence.v1.EvidenceService/ListEvidence", list, &evidence).ok()) {
    view.evidence.assign(evidence.evidence().begin(), evidence.evidence().end());
  }
  view.validation.reset();
  if (view.task.kind() != t::TASK_KIND_CROSS_CONFIRM) {
    evd::ValidateChainRequest validate;
    validate.set_event(view.event.name());
    evd::ValidateChainResponse validation;
    if (visit.person->Unary("/perfflow.evidence.v1.EvidenceService/ValidateChain", validate, &validation).ok()) {
      view.validation = validation.validation();
    }
  }
  return true;
}

void ActionDesk::ServeTask(Visit& visit) {
  if (!Load(visit)) return;
  const TaskView& view = visit.view;
  const PageLocale& l = visit.locale;
  // An owner adds evidence until the chain is archived; the other tasks are
  // done once acted on.
  const bool archived = view.event.flow().step() == t::FLOW_STEP_ARCHIVED;
  const bool done = view.task.state() == t::TASK_STATE_DONE;
  if ((done && view.task.kind() != t::TASK_KIND_OWNER_UPLOAD) || archived) {
    return visit.Fail(410, l.T("此任务已完成。", "This task is already done."));
  }
  if (visit.req.method == "GET") {
    // A short session for this link: sent back only to this link's path.
    visit.res.set_header("Set-Cookie", absl::StrCat(kSessionCookie, "=", visit.token, "; Path=/act/", visit.token,
                                                    "; Max-Age=", absl::ToInt64Seconds(options_.session),
                                                    "; HttpOnly; SameSite=Strict"));
    // A card's verdict button opens the page with that verdict chosen.
    FormState form;
    t::Verdict verdict = t::VERDICT_UNSPECIFIED;
    if (t::Verdict_Parse(visit.req.get_param_value("verdict"), &verdict)) form.verdict = verdict;
    return visit.Page(200, form);
  }
  if (absl::EndsWith(visit.req.path, "/guidance")) {
    if (view.task.kind() != t::TASK_KIND_MANAGER_REVIEW) return visit.Fail(404, l.T("没有这个页面。", "No such page."));
    return PostGuidance(visit);
  }
  switch (view.task.kind()) {
    case t::TASK_KIND_OWNER_UPLOAD:
      return PostUpload(visit);
    case t::TASK_KIND_MANAGER_REVIEW:
      return PostReview(visit);
    case t::TASK_KIND_CROSS_CONFIRM:
      return PostConfirm(visit);
    default:
      return visit.Fail(400, l.T("此任务不能在这里处理。", "This task cannot be acted on here."));
  }
}

void ActionDesk::PostUpload(Visit& visit) {
  const PageLocale& l = visit.locale;
  auto upload = ReadMultipart(visit.req, visit.body, options_.max_upload_bytes);
  if (!upload.ok()) return visit.Refuse(ToGrpcStatus(upload.status()), FormState());
  FormState form;
  form.note = First(upload->fields, "note");
  // The file, or the phone camera's photo.
  const UploadedFile* file = nullptr;
  for (const auto& f : upload->files) {
    if ((f.field == "file" || f.field == "photo") && !f.data.empty() && file == nullptr) file = &f;
  }
  if (file == nullptr) {
    return visit.Refuse(
        Refused(grpc::StatusCode::INVALID_ARGUMENT, l.T("请选择一个文件。", "Choose a file to upload.")), form);
  }
  const std::string kind = First(upload->fields, "kind");
  const bool asked = std::any_of(visit.view.type.evidence().begin(), visit.view.type.evidence().end(),
                                 [&](const event::v1::EvidenceSpec& spec) { return spec.kind() == kind; });
  if (!asked) {
    return visit.Refuse(Refused(grpc::StatusCode::INVALID_ARGUMENT,
                                l.T("请选择列出的证据类型之一。", "Choose one of the kinds listed.")),
                        form);
  }
  evd::UploadEvidenceRequest metadata;
  evd::UploadMetadata& m = *metadata.mutable_metadata();
  m.set_event(visit.view.event.name());
  m.set_kind(kind);
  m.set_file_name(file->file_name);
  m.set_content_type(file->content_type.empty() ? "application/octet-stream" : file->content_type);
  m.set_note(form.note);
  std::vector<evd::UploadEvidenceRequest> chunks((file->data.size() + kUploadChunk - 1) / kUploadChunk);
  std::vector<const google::protobuf::Message*> requests = {&metadata};
  for (size_t i = 0; i < chunks.size(); ++i) {
    chunks[i].set_chunk(file->data.substr(i * kUploadChunk, kUploadChunk));
    requests.push_back(&chunks[i]);
  }
  evd::UploadEvidenceResponse uploaded;
  if (grpc::Status s =
          visit.person->ClientStream("/perfflow.evidence.v1.EvidenceService/UploadEvidence", requests, &uploaded);
      !s.ok()) {
    return visit.Refuse(s, form);
  }
  // The page again: the new evidence and what the validator says now.
  form = FormState();
  form.notice = absl::StrCat(l.T("已上传：", "Uploaded: "), file->file_name);
  if (Load(visit)) visit.Page(200, form);
}

namespace {

// The verdict form as entered.
FormState ReviewFormState(const Form& form) {
  FormState state;
  t::Verdict verdict = t::VERDICT_UNSPECIFIED;
  if (t::Verdict_Parse(First(form, "verdict"), &verdict)) state.verdict = verdict;
  state.comment = First(form, "comment");
  state.behaviours = All(form, "behaviour");
  state.cited = All(form, "cite");
  return state;
}

fb::AnalyzeFeedbackRequest AnalyzeRequest(const FormState& state, const std::string& event) {
  fb::AnalyzeFeedbackRequest request;
  request.set_text(state.comment);
  request.set_event(event);
  for (const auto& b : state.behaviours) request.add_chosen_behaviours(b);
  for (const auto& c : state.cited) request.add_cited_evidence(c);
  return request;
}

}  // namespace

void ActionDesk::PostGuidance(Visit& visit) {
  auto form = ReadForm(visit.req, visit.body, options_.max_form_bytes);
  if (!form.ok()) {
    return visit.Fail(HttpStatusFor(ToGrpcStatus(form.status()).error_code()), std::string(form.status().message()));
  }
  FormState state = ReviewFormState(*form);
  fb::AnalyzeFeedbackResponse guidance;
  if (state.comment.empty()) return visit.Html(200, "");
  if (grpc::Status s = visit.person->Unary("/perfflow.feedback.v1.FeedbackService/AnalyzeFeedback",
                                           AnalyzeRequest(state, visit.view.event.name()), &guidance);
      !s.ok()) {
    return visit.FailCall(s);
  }
  visit.Html(200, GuidancePanel(guidance, visit.locale));
}

void ActionDesk::PostReview(Visit& visit) {
  const PageLocale& l = visit.locale;
  auto form = ReadForm(visit.req, visit.body, options_.max_form_bytes);
  if (!form.ok()) return visit.Refuse(ToGrpcStatus(form.status()), FormState());
  FormState state = ReviewFormState(*form);
  // "Use it": the composed sentence becomes the comment, to edit or submit.
  const std::string sentence = First(*form, "use_sentence");
  if (!sentence.empty()) state.comment = sentence;
  const bool submit = First(*form, "action") == "submit" && sentence.empty();
  auto guide = [&] {
    fb::AnalyzeFeedbackResponse guidance;
    if (!state.comment.empty() && visit.person
                                      ->Unary("/perfflow.feedback.v1.FeedbackService/AnalyzeFeedback",
                                              AnalyzeRequest(state, visit.view.event.name()), &guidance)
                                      .ok()) {
      state.guidance = guidance;
    }
  };
  if (!submit) {
    guide();
    return visit.Page(200, state);
  }
  if (state.verdict == t::VERDICT_UNSPECIFIED) {
    guide();
    return visit.Refuse(Refused(grpc::StatusCode::INVALID_ARGUMENT, l.T("请选择结论。", "Choose a verdict.")), state);
  }
  if (state.comment.empty()) {
    return visit.Refuse(Refused(grpc::StatusCode::INVALID_ARGUMENT,
                                state.verdict == t::VERDICT_REDO
                                    ? l.T("需重做时必须写明原因。", "A redo needs a reason: write it in the comment.")
                                    : l.T("请写评语。", "Write a comment.")),
                        state);
  }
  fb::SubmitReviewRequest request;
  request.set_event(visit.view.event.name());
  request.set_verdict(state.verdict);
  request.set_comment(state.comment);
  for (const auto& b : state.behaviours) request.add_chosen_behaviours(b);
  for (const auto& c : state.cited) request.add_cited_evidence(c);
  fb::SubmitReviewResponse submitted;
  if (grpc::Status s = visit.person->Unary("/perfflow.feedback.v1.FeedbackService/SubmitReview", request, &submitted);
      !s.ok()) {
    guide();
    return visit.Refuse(s, state);
  }
  const char* verdict = state.verdict == t::VERDICT_MEETS               ? l.T("达标", "meets expectations")
                        : state.verdict == t::VERDICT_NEEDS_IMPROVEMENT ? l.T("待优化", "needs improvement")
                                                                        : l.T("需重做", "redo");
  visit.Html(200, DonePage(visit.view, absl::StrCat(l.T("评价已提交：", "Review submitted: "), verdict), l));
}

void ActionDesk::PostConfirm(Visit& visit) {
  const PageLocale& l = visit.locale;
  auto form = ReadForm(visit.req, visit.body, options_.max_form_bytes);
  if (!form.ok()) return visit.Refuse(ToGrpcStatus(form.status()), FormState());
  FormState state;
  state.scopes = All(*form, "scope");
  state.cited = All(*form, "cosign");
  state.note = First(*form, "note");
  // Check everything before acting: nothing is half done.
  static const std::map<std::string, fb::ImpactScope> kScopes = {{"supply_chain", fb::IMPACT_SCOPE_SUPPLY_CHAIN},
                                                                 {"quality", fb::IMPACT_SCOPE_QUALITY},
                                                                 {"delivery", fb::IMPACT_SCOPE_DELIVERY},
                                                                 {"none", fb::IMPACT_SCOPE_NONE}};
  std::vector<std::string> offered = ImpactScopes(visit.view.type);
  offered.push_back("none");
  fb::ConfirmImpactRequest request;
  request.set_event(visit.view.event.name());
  request.set_note(state.note);
  for (const auto& scope : state.scopes) {
    if (std::find(offered.begin(), offered.end(), scope) == offered.end()) {
      return visit.Refuse(Refused(grpc::StatusCode::INVALID_ARGUMENT,
                                  absl::StrCat(l.T("未知的影响范围：", "Unknown impact scope: "), scope)),
                          state);
    }
    request.add_scopes(kScopes.at(scope));
  }
  if (state.scopes.empty()) {
    return visit.Refuse(
        Refused(grpc::StatusCode::INVALID_ARGUMENT, l.T("请至少选择一个影响范围。", "Tick at least one impact scope.")),
        state);
  }
  if (state.scopes.count("none") && state.scopes.size() > 1) {
    return visit.Refuse(
        Refused(grpc::StatusCode::INVALID_ARGUMENT,
                l.T("“无跨部门影响”不能与其他范围同选。", "\"No cross-department impact\" excludes the other scopes.")),
        state);
  }
  for (const auto& name : state.cited) {
    const bool known = std::any_of(visit.view.evidence.begin(), visit.view.evidence.end(),
                                   [&](const evd::Evidence& e) { return e.name() == name; });
    if (!known) {
      return visit.Refuse(Refused(grpc::StatusCode::INVALID_ARGUMENT,
                                  l.T("只能会签本事件的证据。", "Only this event's evidence can be co-signed.")),
                          state);
    }
  }
  // Co-signatures first: the confirmation is what closes the task.
  for (const auto& name : state.cited) {
    evd::CosignEvidenceRequest cosign;
    cosign.set_name(name);
    evd::CosignEvidenceResponse cosigned;
    if (grpc::Status s = visit.person->Unary("/perfflow.evidence.v1.EvidenceService/CosignEvidence", cosign, &cosigned);
        !s.ok()) {
      return visit.Refuse(s, state);
    }
  }
  fb::ConfirmImpactResponse confirmed;
  if (grpc::Status s = visit.person->Unary("/perfflow.feedback.v1.FeedbackService/ConfirmImpact", request, &confirmed);
      !s.ok()) {
    return visit.Refuse(s, state);
  }
  visit.Html(200, DonePage(visit.view, l.T("影响范围已确认。", "The impact is confirmed."), l));
}

}  // namespace perfflow::gateway
