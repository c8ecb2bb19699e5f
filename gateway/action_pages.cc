#include "gateway/action_pages.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/html.h"
#include "common/timestamps.h"

namespace perfflow::gateway {
namespace t = perfflow::type::v1;
namespace {

constexpr char kStyle[] =
    "body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:0 auto;max-width:40rem;padding:1rem;color:#222;"
    "line-height:1.45}h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.05rem;margin:1.2rem 0 .4rem}"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #eee;"
    "vertical-align:top}th{color:#555;font-weight:normal;width:7rem}.sub{color:#555}.late{color:#b00;font-weight:bold}"
    ".ok{color:#070}.miss{color:#b00}.notice{background:#e8f6ec;padding:.6rem;border-radius:.4rem}"
    ".error{background:#fdecea;padding:.6rem;border-radius:.4rem;color:#900}"
    "label.chip{display:inline-block;border:1px solid #aaa;border-radius:1rem;padding:.3rem .7rem;margin:.2rem;"
    "cursor:pointer}label.chip input{margin-right:.3rem}label.verdict{display:block;padding:.5rem;margin:.3rem 0;"
    "border:1px solid #ccc;border-radius:.4rem}textarea,input[type=text],select{width:100%;box-sizing:border-box;"
    "font:inherit;padding:.4rem}button{font:inherit;padding:.6rem 1.2rem;margin:.4rem .4rem .4rem "
    "0;border-radius:.4rem;"
    "border:1px solid #2a6;background:#2a6;color:#fff}button.plain{background:#fff;color:#2a6}"
    "#guidance{background:#f6f7fb;padding:.6rem;border-radius:.4rem;margin:.5rem 0;box-sizing:border-box}"
    "mark{background:#ffe08a}"
    ".meter{background:#ddd;height:.5rem;border-radius:.3rem}.meter "
    "span{display:block;height:.5rem;border-radius:.3rem;"
    "background:#2a6}";

// The verdict page checks the wording as the manager types (the page works
// without it: "check wording" posts the form). The panel keeps the tallest
// height it has had, so what is below it (the submit button) does not move up
// under a pointer on its way there; an unchanged answer is not re-rendered.
// `data-answers` counts the answers shown (the browser test waits on it).
constexpr char kGuidanceScript[] =
    "<script>(function(){var f=document.getElementById('review');if(!f||!window.fetch)return;"
    "var t=f.querySelector('textarea[name=comment]'),g=document.getElementById('guidance'),timer,n=0;"
    "function ask(){var d=new URLSearchParams(new FormData(f));fetch(f.getAttribute('action')+'/guidance',"
    "{method:'POST',body:d,credentials:'same-origin'}).then(function(r){return r.ok?r.text():''})"
    ".then(function(h){if(!h)return;if(h!==g.innerHTML){g.style.minHeight=g.offsetHeight+'px';g.innerHTML=h;}"
    "g.setAttribute('data-answers',++n);});}"
    "f.addEventListener('input',function(){clearTimeout(timer);timer=setTimeout(ask,400);});"
    "g.addEventListener('click',function(e){var s=e.target.getAttribute('data-sentence');"
    "if(s!==null){e.preventDefault();t.value=s;ask();}});})();</script>";

std::string Head(const std::string& title, const PageLocale& locale) {
  return absl::StrCat(
      "<!DOCTYPE html><html lang=\"", locale.zh() ? "zh-CN" : "en",
      "\"><head><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\"><meta name=\"viewport\" "
      "content=\"width=device-width,initial-scale=1\"><title>",
      HtmlEscape(title), " — perfflow</title><style>", kStyle, "</style></head><body>");
}

const char* KindTitle(t::TaskKind kind, const PageLocale& l) {
  switch (kind) {
    case t::TASK_KIND_OWNER_UPLOAD:
      return l.T("上传证据", "Upload the evidence");
    case t::TASK_KIND_MANAGER_REVIEW:
      return l.T("评价行动", "Review the action");
    case t::TASK_KIND_CROSS_CONFIRM:
      return l.T("确认影响范围", "Confirm the impact");
    default:
      return l.T("处理任务", "Act on the task");
  }
}

const char* VerdictLabel(t::Verdict v, const PageLocale& l) {
  switch (v) {
    case t::VERDICT_MEETS:
      return l.T("达标", "Meets expectations");
    case t::VERDICT_NEEDS_IMPROVEMENT:
      return l.T("待优化", "Needs improvement");
    case t::VERDICT_REDO:
      return l.T("需重做", "Redo");
    default:
      return "";
  }
}

const char* ScopeLabel(const std::string& scope, const PageLocale& l) {
  if (scope == "supply_chain") return l.T("供应链", "Supply chain");
  if (scope == "quality") return l.T("质量", "Quality");
  if (scope == "delivery") return l.T("交付", "Delivery");
  return l.T("无跨部门影响", "No cross-department impact");
}

std::string DueLine(const event::v1::Task& task, const PageLocale& l) {
  std::string out = HtmlEscape(l.Time(FromTimestamp(task.due_at())));
  if (task.overdue()) absl::StrAppend(&out, " <span class=\"late\">", l.T("已逾期", "overdue"), "</span>");
  return out;
}

std::string AttributeText(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kStringValue:
      return v.string_value();
    case google::protobuf::Value::kBoolValue:
      return v.bool_value() ? "✓" : "✗";
    case google::protobuf::Value::kNumberValue: {
      const double d = v.number_value();
      return d == static_cast<int64_t>(d) ? absl::StrCat(static_cast<int64_t>(d)) : absl::StrCat(d);
    }
    default:
      return "";
  }
}

// The event: its type, owner, when it happened, its headline attributes.
std::string EventSummary(const TaskView& v, const PageLocale& l) {
  std::string out = absl::StrCat(
      "<table><tr><th>", l.T("事件", "Event"), "</th><td>",
      HtmlEscape(v.type.key().empty() ? v.event.event_type() : l.Text(v.type.display_name())), "</td></tr><tr><th>",
      l.T("负责人", "Owner"), "</th><td>", HtmlEscape(v.owner_name), "</td></tr><tr><th>", l.T("发生于", "Happened"),
      "</th><td>", HtmlEscape(l.Time(FromTimestamp(v.event.occurred_at()))), "</td></tr>");
  for (const auto& spec : v.type.attributes()) {
    auto value = v.event.attributes().fields().find(spec.name());
    if (!spec.headline() || value == v.event.attributes().fields().end()) continue;
    const std::string label =
        spec.description().zh().empty() && spec.description().en().empty() ? spec.name() : l.Text(spec.description());
    absl::StrAppend(&out, "<tr><th>", HtmlEscape(label), "</th><td>", HtmlEscape(AttributeText(value->second)),
                    "</td></tr>");
  }
  absl::StrAppend(&out, "<tr><th>", l.T("截止", "Due"), "</th><td>", DueLine(v.task, l), "</td></tr></table>");
  return out;
}

std::string KindName(const event::v1::EventType& type, const std::string& kind, const PageLocale& l) {
  for (const auto& spec : type.evidence()) {
    if (spec.kind() == kind) return l.Text(spec.display_name()).empty() ? kind : l.Text(spec.display_name());
  }
  return kind;
}

// The evidence so far; with `cite`, check boxes to cite it (verdict page) or
// to co-sign it (confirmation page).
std::string EvidenceList(const TaskView& v, const PageLocale& l, const char* box_name,
                         const std::set<std::string>& checked) {
  std::string out = absl::StrCat("<h2>", l.T("证据", "Evidence"), "</h2>");
  if (v.evidence.empty()) {
    return out + absl::StrCat("<p class=\"sub\">", l.T("还没有证据。", "No evidence yet."), "</p>");
  }
  out += "<table>";
  for (const auto& e : v.evidence) {
    absl::StrAppend(&out, "<tr><th>", HtmlEscape(KindName(v.type, e.kind(), l)), "</th><td>", HtmlEscape(e.file_name()),
                    " <span class=\"sub\">", (e.size_bytes() + 1023) / 1024, " KB</span>");
    if (!e.cosigned_by().empty()) absl::StrAppend(&out, " <span class=\"ok\">", l.T("已会签", "co-signed"), "</span>");
    if (box_name != nullptr && (std::string(box_name) != "cosign" || e.cosigned_by().empty())) {
      absl::StrAppend(&out, "<br><label><input type=\"checkbox\" name=\"", box_name, "\" value=\"",
                      HtmlEscape(e.name()), "\"", checked.count(e.name()) ? " checked" : "", "> ",
                      std::string(box_name) == "cite" ? l.T("在评语中引用", "cite in the comment")
                                                      : l.T("会签此证据", "co-sign this evidence"),
                      "</label>");
    }
    out += "</td></tr>";
  }
  return out + "</table>";
}

// The validator's verdict on the chain: what is missing, with SOP links and
// similar past cases.
std::string ValidationBlock(const TaskView& v, const PageLocale& l) {
  if (!v.validation) return "";
  const auto& val = *v.validation;
  if (val.outcome() == evidence::v1::CHAIN_OUTCOME_COMPLETE) {
    return absl::StrCat("<h2>", l.T("证据链", "Evidence chain"), "</h2><p class=\"ok\">",
                        l.T("✓ 证据链完整。", "✓ The evidence chain is complete."), "</p>");
  }
  std::string out = absl::StrCat("<h2>", l.T("还缺什么", "What is still missing"), "</h2><ul>");
  for (const auto& gap : val.gaps()) {
    // A missing kind by its display name; other gaps by the rule's description.
    std::string what = gap.description();
    if (absl::StartsWith(gap.rule(), "cosign:")) {
      what = absl::StrCat(KindName(v.type, gap.evidence_kind(), l),
                          l.T("：需要其他部门会签", ": needs a co-signature from another department"));
    } else if (!gap.evidence_kind().empty()) {
      what = KindName(v.type, gap.evidence_kind(), l);
    }
    absl::StrAppend(&out, "<li><span class=\"miss\">", HtmlEscape(what), "</span>");
    for (const auto& sop : gap.guidance().sop_links()) {
      absl::StrAppend(&out, "<br>", l.T("操作规范：", "SOP: "), "<a href=\"", HtmlEscape(sop.url()), "\">",
                      HtmlEscape(sop.title()), "</a>");
    }
    for (const auto& similar : gap.guidance().similar_cases()) {
      std::vector<std::string> kinds;
      for (const auto& k : similar.evidence_kinds()) kinds.push_back(KindName(v.type, k, l));
      absl::StrAppend(&out, "<br><span class=\"sub\">", l.T("相似案例提供了：", "A similar past case supplied: "),
                      HtmlEscape(absl::StrJoin(kinds, l.T("、", ", "))), "</span>");
    }
    out += "</li>";
  }
  return out + "</ul>";
}

std::string Banner(const FormState& form) {
  std::string out;
  if (!form.notice.empty()) {
    absl::StrAppend(&out, "<p class=\"notice\" id=\"notice\">", HtmlEscape(form.notice), "</p>");
  }
  if (!form.error.empty()) absl::StrAppend(&out, "<p class=\"error\" id=\"error\">", HtmlEscape(form.error), "</p>");
  return out;
}

std::string InboxLink(const TaskView& v, const PageLocale& l) {
  if (v.inbox_url.empty()) return "";
  return absl::StrCat("<p><a href=\"", HtmlEscape(v.inbox_url), "\">", l.T("← 我的任务", "← My tasks"), "</a></p>");
}

std::string UploadForm(const TaskView& v, const FormState& form, const PageLocale& l) {
  std::vector<std::string> accept;
  bool images = false;
  std::string options;
  // Kinds still missing come first.
  std::set<std::string> missing;
  if (v.validation) {
    for (const auto& gap : v.validation->gaps()) missing.insert(gap.evidence_kind());
  }
  std::vector<const event::v1::EvidenceSpec*> specs;
  for (const auto& spec : v.type.evidence()) specs.push_back(&spec);
  std::stable_sort(specs.begin(), specs.end(),
                   [&](const auto* a, const auto* b) { return missing.count(a->kind()) > missing.count(b->kind()); });
  for (const auto* spec : specs) {
    for (const auto& ct : spec->content_types()) {
      if (std::find(accept.begin(), accept.end(), ct) == accept.end()) accept.push_back(ct);
      images = images || absl::StartsWith(ct, "image/");
    }
    absl::StrAppend(&options, "<option value=\"", HtmlEscape(spec->kind()), "\">",
                    HtmlEscape(KindName(v.type, spec->kind(), l)),
                    spec->required() ? l.T("（必需）", " (required)") : "", "</option>");
  }
  std::string out = absl::StrCat(
      "<h2>", l.T("上传一份证据", "Upload a piece of evidence"), "</h2><form id=\"upload\" method=\"post\" action=\"",
      HtmlEscape(v.self_url), "\" enctype=\"multipart/form-data\"><p><label>", l.T("证据类型", "Kind"),
      "<br><select name=\"kind\">", options, "</select></label></p><p><label>", l.T("文件", "File"),
      "<br><input type=\"file\" name=\"file\" accept=\"", HtmlEscape(absl::StrJoin(accept, ",")), "\"></label></p>");
  if (images) {
    absl::StrAppend(&out, "<p><label>", l.T("或用手机拍照", "or take a photo"),
                    "<br><input type=\"file\" name=\"photo\" accept=\"image/*\" capture=\"environment\"></label></p>");
  }
  absl::StrAppend(&out, "<p><label>", l.T("备注（可选）", "Note (optional)"),
                  "<br><input type=\"text\" name=\"note\" maxlength=\"500\" value=\"", HtmlEscape(form.note),
                  "\"></label></p><button type=\"submit\">", l.T("上传", "Upload"), "</button></form>");
  return out;
}

std::string ReviewForm(const TaskView& v, const FormState& form, const PageLocale& l) {
  std::string out = absl::StrCat("<form id=\"review\" method=\"post\" action=\"", HtmlEscape(v.self_url), "\"><h2>",
                                 l.T("结论", "Verdict"), "</h2>");
  for (t::Verdict verdict : {t::VERDICT_MEETS, t::VERDICT_NEEDS_IMPROVEMENT, t::VERDICT_REDO}) {
    absl::StrAppend(&out, "<label class=\"verdict\"><input type=\"radio\" name=\"verdict\" value=\"",
                    t::Verdict_Name(verdict), "\"", form.verdict == verdict ? " checked" : "", "> ",
                    VerdictLabel(verdict, l), "</label>");
  }
  if (v.type.behaviours_size() > 0) {
    absl::StrAppend(&out, "<h2>", l.T("看到的行为", "Behaviours you saw"), "</h2><div>");
    for (const auto& b : v.type.behaviours()) {
      absl::StrAppend(&out, "<label class=\"chip\"><input type=\"checkbox\" name=\"behaviour\" value=\"",
                      HtmlEscape(b.id()), "\"", form.behaviours.count(b.id()) ? " checked" : "", ">",
                      HtmlEscape(l.Text(b.text())), "</label>");
    }
    out += "</div>";
  }
  absl::StrAppend(&out, EvidenceList(v, l, "cite", form.cited), "<h2>", l.T("评语", "Comment"),
                  "</h2><p class=\"sub\">", l.T("需重做时请写明原因。", "A redo needs the reason written here."),
                  "</p><textarea name=\"comment\" rows=\"4\" maxlength=\"2000\">", HtmlEscape(form.comment),
                  "</textarea><div id=\"guidance\">", form.guidance ? GuidancePanel(*form.guidance, l) : "",
                  "</div><button type=\"submit\" name=\"action\" "
                  "value=\"submit\">",
                  l.T("提交评价", "Submit the review"),
                  "</button><button class=\"plain\" "
                  "type=\"submit\" name=\"action\" value=\"check\">",
                  l.T("检查措辞", "Check the wording"), "</button></form>", kGuidanceScript);
  return out;
}

std::string ConfirmForm(const TaskView& v, const FormState& form, const PageLocale& l) {
  std::string out =
      absl::StrCat("<form id=\"confirm\" method=\"post\" action=\"", HtmlEscape(v.self_url), "\">",
                   EvidenceList(v, l, "cosign", form.cited), "<h2>", l.T("影响范围", "Impact scope"), "</h2><div>");
  std::vector<std::string> scopes = ImpactScopes(v.type);
  scopes.push_back("none");
  for (const auto& scope : scopes) {
    absl::StrAppend(&out, "<label class=\"chip\"><input type=\"checkbox\" name=\"scope\" value=\"", scope, "\"",
                    form.scopes.count(scope) ? " checked" : "", ">", ScopeLabel(scope, l), "</label>");
  }
  absl::StrAppend(&out, "</div><p><label>", l.T("说明（可选）", "Note (optional)"),
                  "<br><input type=\"text\" name=\"note\" maxlength=\"500\" value=\"", HtmlEscape(form.note),
                  "\"></label></p><button type=\"submit\">", l.T("确认", "Confirm"), "</button></form>");
  return out;
}

}  // namespace

PageLocale::PageLocale(absl::string_view accept_language, const std::string& time_zone, const std::string& language)
    : zone_(absl::UTCTimeZone()) {
  // The first language the reader ranks highest among zh and en.
  double zh_q = -1, en_q = -1;
  for (absl::string_view item : absl::StrSplit(accept_language, ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, ';');
    const std::string tag = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[0]));
    double q = 1;
    for (size_t i = 1; i < parts.size(); ++i) {
      absl::string_view p = absl::StripAsciiWhitespace(parts[i]);
      if (absl::StartsWith(p, "q=") && !absl::SimpleAtod(p.substr(2), &q)) q = 0;
    }
    if (absl::StartsWith(tag, "zh") && q > zh_q) zh_q = q;
    if (absl::StartsWith(tag, "en") && q > en_q) en_q = q;
  }
  zh_ = language.empty() ? !(en_q > zh_q && en_q > 0) : language != "en";
  zone_ = ZoneOrUtc(time_zone);
}

const std::string& PageLocale::Text(const event::v1::LocalizedText& text) const {
  if (zh_) return text.zh().empty() ? text.en() : text.zh();
  return text.en().empty() ? text.zh() : text.en();
}

std::string PageLocale::Time(absl::Time t) const { return absl::FormatTime("%Y-%m-%d %H:%M %Z", t, zone_); }

std::map<std::string, std::string> TypeNames(const event::v1::Registry& registry, const PageLocale& locale) {
  std::map<std::string, std::string> out;
  for (const auto& type : registry.event_types()) out[type.key()] = locale.Text(type.display_name());
  return out;
}

std::vector<std::string> ImpactScopes(const event::v1::EventType& type) {
  const auto& configured = type.actions().cross_confirm().impact_scopes();
  if (!configured.empty()) return {configured.begin(), configured.end()};
  return {"supply_chain", "quality", "delivery"};
}

std::string TaskPage(const TaskView& v, const FormState& form, const PageLocale& l) {
  const char* title = KindTitle(v.task.kind(), l);
  std::string out =
      absl::StrCat(Head(title, l), InboxLink(v, l), "<h1>", title, "</h1><p class=\"sub\">", l.T("办理人：", "For: "),
                   HtmlEscape(v.person_name), "</p>", Banner(form), EventSummary(v, l));
  switch (v.task.kind()) {
    case t::TASK_KIND_OWNER_UPLOAD:
      if (v.task.state() == t::TASK_STATE_DONE) {
        absl::StrAppend(
            &out, "<p class=\"ok\">",
            l.T("已提交。证据链归档前仍可补充证据。", "Submitted. You can add evidence until the chain is archived."),
            "</p>");
      }
      absl::StrAppend(&out, ValidationBlock(v, l), EvidenceList(v, l, nullptr, {}), UploadForm(v, form, l));
      break;
    case t::TASK_KIND_MANAGER_REVIEW:
      absl::StrAppend(&out, ValidationBlock(v, l), ReviewForm(v, form, l));
      break;
    case t::TASK_KIND_CROSS_CONFIRM:
      absl::StrAppend(&out, ConfirmForm(v, form, l));
      break;
    default:
      break;
  }
  return out + "</body></html>";
}

std::string GuidancePanel(const feedback::v1::AnalyzeFeedbackResponse& g, const PageLocale& l) {
  std::string out = absl::StrCat(
      "<div id=\"guidance-panel\"><p>", l.T("具体程度", "Specificity"), " <b id=\"specificity\">",
      static_cast<int>(g.specificity() * 100 + 0.5), "%</b> ",
      g.effective()
          ? absl::StrCat("<span class=\"ok\">", l.T("✓ 具体、有依据", "✓ specific and evidenced"), "</span>")
          : absl::StrCat("<span class=\"miss\">",
                         l.T("请写出具体行为并引用证据", "name a concrete behaviour and cite evidence"), "</span>"),
      "</p><div class=\"meter\"><span style=\"width:", static_cast<int>(g.specificity() * 100), "%\"></span></div>");
  // Vague phrases are marked; "no behaviour" and "no evidence" cover the
  // whole comment and are said in words.
  std::vector<std::string> words, missing;
  for (const auto& span : g.spans()) {
    switch (span.class_()) {
      case feedback::v1::VAGUE_CLASS_NO_BEHAVIOUR:
        missing.push_back(l.T("没有写出具体行为", "no concrete behaviour named"));
        break;
      case feedback::v1::VAGUE_CLASS_NO_EVIDENCE:
        missing.push_back(l.T("没有引用证据", "no evidence cited"));
        break;
      default:
        words.push_back(absl::StrCat("<mark>", HtmlEscape(span.text()), "</mark>"));
    }
  }
  if (!words.empty()) {
    absl::StrAppend(&out, "<p>", l.T("空泛的词：", "Vague words: "), absl::StrJoin(words, " "), "</p>");
  }
  if (!missing.empty()) absl::StrAppend(&out, "<p class=\"miss\">", absl::StrJoin(missing, l.T("；", "; ")), "</p>");
  if (g.suggestions_size() > 0) {
    std::vector<std::string> texts;
    for (const auto& b : g.suggestions()) texts.push_back(HtmlEscape(l.Text(b.text())));
    absl::StrAppend(&out, "<p>", l.T("可以写的行为：", "Behaviours you could name: "),
                    absl::StrJoin(texts, l.T("；", "; ")), "</p>");
  }
  if (!g.composed_sentence().empty()) {
    absl::StrAppend(&out, "<p>", l.T("建议的句子：", "Suggested sentence: "), "<q id=\"composed\">",
                    HtmlEscape(g.composed_sentence()),
                    "</q><br><button class=\"plain\" type=\"submit\" "
                    "name=\"use_sentence\" value=\"",
                    HtmlEscape(g.composed_sentence()), "\" data-sentence=\"", HtmlEscape(g.composed_sentence()), "\">",
                    l.T("用这句（可再修改）", "Use it (you can edit it)"), "</button></p>");
  }
  return out + "</div>";
}

std::string DonePage(const TaskView& v, const std::string& message, const PageLocale& l) {
  return absl::StrCat(Head(KindTitle(v.task.kind(), l), l), "<h1>", l.T("完成", "Done"),
                      "</h1><p class=\"notice\" id=\"notice\">", HtmlEscape(message), "</p>", EventSummary(v, l),
                      InboxLink(v, l), "</body></html>");
}

std::string InboxPage(const event::v1::ListTasksResponse& tasks, const std::map<std::string, std::string>& type_names,
                      const std::function<std::string(const event::v1::Task&)>& link_of, const std::string& person_name,
                      const PageLocale& l) {
  std::string out =
      absl::StrCat(Head(l.T("我的任务", "My tasks"), l), "<h1>", l.T("我的任务", "My tasks"), "</h1><p class=\"sub\">",
                   HtmlEscape(person_name), " — ",
                   l.zh() ? absl::StrCat(tasks.tasks_size(), " 项待办")
                          : absl::StrCat(tasks.tasks_size(), tasks.tasks_size() == 1 ? " open task" : " open tasks"),
                   "</p><table><tr><th>", l.T("任务", "Task"), "</th><th>", l.T("事件", "Event"), "</th><th>",
                   l.T("截止", "Due"), "</th></tr>");
  for (const auto& task : tasks.tasks()) {
    auto name = type_names.find(task.event_type());
    // Without link keys the task is listed without a link.
    const std::string link = link_of(task);
    absl::StrAppend(&out, "<tr><td>",
                    link.empty()
                        ? std::string(KindTitle(task.kind(), l))
                        : absl::StrCat("<a href=\"", HtmlEscape(link), "\">", KindTitle(task.kind(), l), "</a>"),
                    "</td><td>", HtmlEscape(name != type_names.end() ? name->second : task.event_type()), "</td><td>",
                    DueLine(task, l), "</td></tr>");
  }
  return out + "</table></body></html>";
}

std::string TeamPage(const TeamView& team, const PageLocale& l) {
  std::string out = absl::StrCat(Head(l.T("我的团队", "My team"), l), "<p><a href=\"/people/inbox\">",
                                 l.T("← 我的任务", "← My tasks"), "</a></p><h1>", l.T("我的团队", "My team"),
                                 "</h1><p class=\"sub\">", HtmlEscape(team.manager_name), "</p>");
  if (team.members.empty()) {
    return out + absl::StrCat("<p>", l.T("目录中没有你的直接下属。", "The directory lists no direct reports of yours."),
                              "</p></body></html>");
  }
  absl::StrAppend(&out, "<table id=\"members\"><tr><th>", l.T("成员", "Person"), "</th><th>",
                  l.T("进行中的链", "Open chains"), "</th><th>", l.T("逾期任务", "Late tasks"), "</th></tr>");
  for (const auto& m : team.members) {
    absl::StrAppend(&out, "<tr><td>", HtmlEscape(m.name), "</td><td>", m.open_chains, "</td><td>",
                    m.late > 0 ? absl::StrCat("<span class=\"late\">", m.late, "</span>") : "0", "</td></tr>");
  }
  absl::StrAppend(&out, "</table><h2>", l.T("进行中的链", "Open chains"), "</h2><table id=\"chains\"><tr><th>",
                  l.T("负责人", "Owner"), "</th><th>", l.T("事件", "Event"), "</th><th>", l.T("等待", "Waiting on"),
                  "</th><th>", l.T("截止", "Due"), "</th></tr>");
  for (const auto& r : team.rows) {
    std::string waiting = r.waiting_on_name.empty()
                              ? l.T("证据链完整", "a complete evidence chain")
                              : absl::StrCat(HtmlEscape(r.waiting_on_name), " · ", KindTitle(r.kind, l));
    if (!r.link.empty()) waiting = absl::StrCat("<a href=\"", HtmlEscape(r.link), "\">", waiting, "</a>");
    std::string due = r.due ? HtmlEscape(l.Time(*r.due)) : "–";
    if (r.overdue) absl::StrAppend(&due, " <span class=\"late\">", l.T("已逾期", "overdue"), "</span>");
    absl::StrAppend(&out, "<tr><td>", HtmlEscape(r.owner_name), "</td><td>", HtmlEscape(r.event_type_name), "</td><td>",
                    waiting, "</td><td>", due, "</td></tr>");
  }
  return out + "</table></body></html>";
}

std::string ChainPage(const ChainView& chain, const PageLocale& l) {
  const event::v1::Event& e = chain.event;
  const event::v1::StepTimes& times = e.flow().times();
  const absl::Time opened = FromTimestamp(times.triggered_at());
  std::string out =
      absl::StrCat(Head(chain.type_name, l), "<h1>", HtmlEscape(chain.type_name), "</h1><p class=\"sub\">",
                   HtmlEscape(chain.owner_name), " · ", HtmlEscape(l.Time(FromTimestamp(e.occurred_at()))), " · <code>",
                   HtmlEscape(e.name()), "</code></p>");
  // Each step with its time and the hours since the chain opened.
  absl::StrAppend(&out, "<h2>", l.T("步骤", "Steps"), "</h2><table id=\"steps\">");
  auto step = [&](const char* zh, const char* en, bool has, const google::protobuf::Timestamp& at,
                  const std::string& extra) {
    std::string when = "–";
    if (has) {
      const absl::Time t = FromTimestamp(at);
      when = absl::StrCat(HtmlEscape(l.Time(t)),
                          t > opened ? absl::StrFormat(" (+%.1f h)", absl::ToDoubleHours(t - opened)) : "");
    }
    absl::StrAppend(&out, "<tr><th>", l.T(zh, en), "</th><td>", when, extra, "</td></tr>");
  };
  step("链开启", "Chain opened", times.has_triggered_at(), times.triggered_at(), "");
  step("负责人行动", "Owner acted", times.has_owner_action_at(), times.owner_action_at(), "");
  step("证据链完整", "Evidence complete", times.has_evidence_complete_at(), times.evidence_complete_at(), "");
  const char* verdict = VerdictLabel(e.flow().verdict(), l);
  step("经理评价", "Manager's verdict", times.has_manager_feedback_at(), times.manager_feedback_at(),
       *verdict ? absl::StrCat(" · <strong>", verdict, "</strong>") : "");
  if (e.flow().requires_cross_confirm()) {
    step("跨部门确认", "Impact confirmed", times.has_cross_confirm_at(), times.cross_confirm_at(), "");
  }
  step("归档", "Archived", times.has_archived_at(), times.archived_at(), "");
  absl::StrAppend(&out, "</table><h2>", l.T("任务", "Tasks"), "</h2><table id=\"tasks\"><tr><th>", l.T("任务", "Task"),
                  "</th><th>", l.T("负责人", "Held by"), "</th><th>", l.T("截止", "Due"), "</th><th>",
                  l.T("完成", "Done"), "</th></tr>");
  for (const auto& task : e.tasks()) {
    auto name = chain.names.find(task.assignee_id());
    std::string done = task.state() == t::TASK_STATE_DONE ? HtmlEscape(l.Time(FromTimestamp(task.completed_at())))
                       : task.state() == t::TASK_STATE_CANCELLED ? l.T("已取消", "cancelled")
                                                                 : l.T("待办", "open");
    absl::StrAppend(&out, "<tr><td>", KindTitle(task.kind(), l), "</td><td>",
                    HtmlEscape(name != chain.names.end() ? name->second : task.assignee_id()), "</td><td>",
                    DueLine(task, l), "</td><td>", done, "</td></tr>");
  }
  return out + "</table></body></html>";
}

std::string SignInPage(const std::vector<std::pair<std::string, std::string>>& links, const std::string& next,
                       const std::string& error, const PageLocale& l) {
  std::string out =
      absl::StrCat(Head(l.T("登录", "Sign in"), l), "<h1>", l.T("登录 perfflow", "Sign in to perfflow"), "</h1>");
  if (!error.empty()) absl::StrAppend(&out, "<p class=\"error\" id=\"error\">", HtmlEscape(error), "</p>");
  for (const auto& [label, url] : links) {
    absl::StrAppend(&out, "<p><a href=\"", HtmlEscape(url), "\"><button type=\"button\">",
                    l.T("用公司账号登录：", "Sign in with "), HtmlEscape(label), "</button></a></p>");
  }
  absl::StrAppend(&out, "<form id=\"sign-in\" method=\"post\" action=\"/people/sign-in\"><p><label>",
                  l.T("或粘贴身份提供方签发的令牌", "or paste a token from your identity provider"),
                  "<br><textarea name=\"token\" rows=\"4\" autocomplete=\"off\"></textarea></label></p>"
                  "<input type=\"hidden\" name=\"next\" value=\"",
                  HtmlEscape(next), "\"><button type=\"submit\">", l.T("登录", "Sign in"),
                  "</button></form></body></html>");
  return out;
}

std::string TooManyRequests(const PageLocale& locale) {
  return locale.T("请求过于频繁，请稍后再试。", "Too many requests: try again shortly.");
}

}  // namespace perfflow::gateway
