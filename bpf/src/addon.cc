// MetaFlow's native addon: loads the BPF object with the system libbpf,
// attaches its programs, gives JavaScript access to its maps, and streams its
// ring buffer to JavaScript in batches.
//
// Threading: a native thread polls the ring buffer and packs records into
// batches; each full batch (or whatever arrived within the flush interval)
// goes to the JS thread with one thread-safe-function call. At most
// `maxPending` batches wait for JS at a time; beyond that the native thread
// stops reading, the kernel ring fills, and the BPF side counts what it
// drops. So memory stays bounded and loss is counted in one place.
//
// Lifetime: links are file descriptors, so the kernel detaches every probe
// when the process exits, however it exits. close() (and the environment's
// cleanup hook, for worker threads and normal exit) detaches them earlier.

#include <napi.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

// ---------------------------------------------------------------- libbpf log

// libbpf reports details (the verifier's log, missing BTF, failed attach)
// through its print callback; keep the recent warnings to put in errors.
std::mutex g_log_mutex;
std::string g_log;
const size_t kLogMax = 16384;

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  // One message can be the verifier's whole log: format it at full length.
  char* line = nullptr;
  int n = vasprintf(&line, fmt, args);
  if (n <= 0 || !line) return 0;
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_log.append(line, n);
  free(line);
  if (g_log.size() > kLogMax) g_log.erase(0, g_log.size() - kLogMax);
  return 0;
}

void ClearLog() {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_log.clear();
}

std::string TakeLog() {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  std::string s;
  s.swap(g_log);
  // The end of the log (the verifier's verdict) is what explains a failure.
  if (s.size() > 6000) s = "…" + s.substr(s.size() - 6000);
  return s;
}

Napi::Value ThrowError(Napi::Env env, const std::string& code, const std::string& message, int err = 0) {
  std::string msg = message;
  if (err) msg += std::string(": ") + strerror(err < 0 ? -err : err);
  std::string log = TakeLog();
  if (!log.empty()) msg += "\n" + log;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  if (err) e.Set("errno", Napi::Number::New(env, err < 0 ? -err : err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// The verifier gives up with EAGAIN when a signal is pending for the loading
// thread (a profiler's SIGPROF every millisecond is enough to fail every
// retry). Load on a thread that blocks every signal; they go elsewhere.
int LoadWithoutSignals(bpf_object* obj) {
  int err = 0;
  std::thread loader([obj, &err] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    err = bpf_object__load(obj);
  });
  loader.join();
  return err;
}

// Programs attached by attachTracepoints(): tracepoints, plain or raw
// (BTF-typed); uprobes are attached one by one with attachUprobe().
bool IsTracepoint(const char* sec) {
  return strncmp(sec, "tracepoint/", 11) == 0 || strncmp(sec, "tp_btf/", 7) == 0 || strncmp(sec, "raw_tp/", 7) == 0;
}

// ------------------------------------------------------------------ batches

// A batch: records packed as [u32 length][u32 0][record, padded to 8 bytes].
struct Batch {
  std::vector<uint8_t> data;
  size_t used = 0;
  uint32_t count = 0;
};

class Tracer;
std::mutex g_tracers_mutex;
std::set<Tracer*> g_tracers;

class Tracer : public Napi::ObjectWrap<Tracer> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Tracer",
                       {
                           InstanceMethod("attachTracepoints", &Tracer::AttachTracepoints),
                           InstanceMethod("attachUprobe", &Tracer::AttachUprobe),
                           InstanceMethod("detach", &Tracer::Detach),
                           InstanceMethod("updateMap", &Tracer::UpdateMap),
                           InstanceMethod("deleteMapKey", &Tracer::DeleteMapKey),
                           InstanceMethod("clearMap", &Tracer::ClearMap),
                           InstanceMethod("counters", &Tracer::Counters),
                           InstanceMethod("start", &Tracer::Start),
                           InstanceMethod("stop", &Tracer::Stop),
                           InstanceMethod("close", &Tracer::Close),
                           InstanceMethod("stats", &Tracer::Stats),
                           InstanceMethod("programs", &Tracer::Programs),
                           InstanceMethod("kernelIds", &Tracer::KernelIds),
                       });
  }

  // new Tracer(objectPath, { ringBytes })
  Tracer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tracer>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      ThrowError(env, "EBPF_BAD_ARGUMENT", "Tracer(objectPath, options): objectPath must be a string");
      return;
    }
    std::string path = info[0].As<Napi::String>();
    uint32_t ring_bytes = 8u << 20;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (o.Has("ringBytes")) ring_bytes = o.Get("ringBytes").As<Napi::Number>().Uint32Value();
    }
    ClearLog();
    obj_ = bpf_object__open_file(path.c_str(), nullptr);
    if (!obj_) {
      int err = errno;
      ThrowError(env, "EBPF_OPEN_FAILED", "cannot open BPF object " + path, err);
      return;
    }
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) ncpu = 1;
    ncpu_ = ncpu;
    if (bpf_map* rb = bpf_object__find_map_by_name(obj_, "mf_events")) bpf_map__set_max_entries(rb, ring_bytes);
    if (bpf_map* sc = bpf_object__find_map_by_name(obj_, "mf_scratch")) bpf_map__set_max_entries(sc, ncpu);
    // Uprobe programs are attached one by one later; stop libbpf from
    // trying to auto-attach or complain about them.
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj_) {
      const char* sec = bpf_program__section_name(prog);
      if (!IsTracepoint(sec)) bpf_program__set_autoattach(prog, false);
    }
    int err = LoadWithoutSignals(obj_);
    if (err) {
      bpf_object__close(obj_);
      obj_ = nullptr;
      ThrowError(env, "EBPF_LOAD_FAILED", "cannot load BPF object " + path + " into the kernel", err);
      return;
    }
    std::lock_guard<std::mutex> lock(g_tracers_mutex);
    g_tracers.insert(this);
  }

  ~Tracer() override {
    {
      std::lock_guard<std::mutex> lock(g_tracers_mutex);
      g_tracers.erase(this);
    }
    Shutdown();
  }

  // Stops the consumer, detaches every probe and releases the object.
  // Idempotent; also run by the environment's cleanup hook.
  void Shutdown() {
    StopThread();
    DestroyLinks();
    if (rb_) {
      ring_buffer__free(rb_);
      rb_ = nullptr;
    }
    if (obj_) {
      bpf_object__close(obj_);
      obj_ = nullptr;
    }
  }

 private:
  bpf_object* obj_ = nullptr;
  int ncpu_ = 1;
  std::map<int, bpf_link*> links_;
  int next_link_ = 1;

  // Consumer state.
  ring_buffer* rb_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool running_ = false;
  Napi::ThreadSafeFunction tsfn_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint32_t pending_ = 0;  // batches handed to JS and not yet delivered
  uint32_t max_pending_ = 8;
  size_t batch_bytes_ = 1 << 20;
  int flush_ms_ = 10;
  Batch* current_ = nullptr;
  // Counters (written by the consumer thread, read by JS).
  std::atomic<uint64_t> events_{0}, bytes_{0}, batches_{0}, waits_{0};

  // Each detach waits for an RCU grace period inside the kernel's event
  // mutex, so closing them from several threads would not be faster.
  void DestroyLinks() {
    for (auto& kv : links_) bpf_link__destroy(kv.second);
    links_.clear();
  }

  bool Loaded(Napi::Env env) {
    if (obj_) return true;
    ThrowError(env, "EBPF_CLOSED", "the BPF object is closed");
    return false;
  }

  bpf_map* MapByName(Napi::Env env, const Napi::Value& v) {
    if (!Loaded(env)) return nullptr;
    if (!v.IsString()) {
      ThrowError(env, "EBPF_BAD_ARGUMENT", "map name must be a string");
      return nullptr;
    }
    std::string name = v.As<Napi::String>();
    bpf_map* m = bpf_object__find_map_by_name(obj_, name.c_str());
    if (!m) ThrowError(env, "EBPF_NO_SUCH_MAP", "no map named " + name);
    return m;
  }

  // attachTracepoints(): names of the attached programs. All or nothing.
  Napi::Value AttachTracepoints(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Loaded(env)) return env.Undefined();
    ClearLog();
    std::vector<std::pair<int, std::string>> attached;
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj_) {
      const char* sec = bpf_program__section_name(prog);
      if (!IsTracepoint(sec)) continue;
      bpf_link* link = bpf_program__attach(prog);
      if (!link) {
        int err = errno;
        for (auto& a : attached) {
          bpf_link__destroy(links_[a.first]);
          links_.erase(a.first);
        }
        return ThrowError(env, "EBPF_ATTACH_FAILED", std::string("cannot attach ") + bpf_program__name(prog) + " to " + sec, err);
      }
      int id = next_link_++;
      links_[id] = link;
      attached.emplace_back(id, bpf_program__name(prog));
    }
    Napi::Array out = Napi::Array::New(env, attached.size());
    for (size_t i = 0; i < attached.size(); i++) out.Set(i, Napi::String::New(env, attached[i].second));
    return out;
  }

  // attachUprobe(program, binaryPath, functionName, retprobe, pid): a link id.
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Loaded(env)) return env.Undefined();
    if (info.Length() < 5 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() || !info[3].IsBoolean() || !info[4].IsNumber())
      return ThrowError(env, "EBPF_BAD_ARGUMENT", "attachUprobe(program, binaryPath, functionName, retprobe, pid)");
    std::string name = info[0].As<Napi::String>();
    std::string binary = info[1].As<Napi::String>();
    std::string func = info[2].As<Napi::String>();
    bool ret = info[3].As<Napi::Boolean>();
    int pid = info[4].As<Napi::Number>().Int32Value();
    bpf_program* prog = bpf_object__find_program_by_name(obj_, name.c_str());
    if (!prog) return ThrowError(env, "EBPF_NO_SUCH_PROGRAM", "no program named " + name);
    ClearLog();
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret, .func_name = func.c_str());
    bpf_link* link = bpf_program__attach_uprobe_opts(prog, pid, binary.c_str(), 0, &opts);
    if (!link) {
      int err = errno;
      return ThrowError(env, "EBPF_ATTACH_FAILED", "cannot attach " + name + " to " + func + " in " + binary, err);
    }
    int id = next_link_++;
    links_[id] = link;
    return Napi::Number::New(env, id);
  }

  // detach(linkId)
  Napi::Value Detach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int id = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
    auto it = links_.find(id);
    if (it == links_.end()) return Napi::Boolean::New(env, false);
    bpf_link__destroy(it->second);
    links_.erase(it);
    return Napi::Boolean::New(env, true);
  }

  // updateMap(name, key, value)
  Napi::Value UpdateMap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = MapByName(env, info[0]);
    if (!m) return env.Undefined();
    if (info.Length() < 3 || !info[1].IsBuffer() || !info[2].IsBuffer()) return ThrowError(env, "EBPF_BAD_ARGUMENT", "updateMap(name, key: Buffer, value: Buffer)");
    auto key = info[1].As<Napi::Buffer<uint8_t>>();
    auto val = info[2].As<Napi::Buffer<uint8_t>>();
    int err = bpf_map__update_elem(m, key.Data(), key.Length(), val.Data(), val.Length(), BPF_ANY);
    if (err) return ThrowError(env, "EBPF_MAP_UPDATE_FAILED", std::string("cannot update map ") + bpf_map__name(m), err);
    return env.Undefined();
  }

  // deleteMapKey(name, key): whether it was there.
  Napi::Value DeleteMapKey(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = MapByName(env, info[0]);
    if (!m) return env.Undefined();
    if (info.Length() < 2 || !info[1].IsBuffer()) return ThrowError(env, "EBPF_BAD_ARGUMENT", "deleteMapKey(name, key: Buffer)");
    auto key = info[1].As<Napi::Buffer<uint8_t>>();
    return Napi::Boolean::New(env, bpf_map__delete_elem(m, key.Data(), key.Length(), 0) == 0);
  }

  // clearMap(name): deletes every key of a hash map; returns how many.
  Napi::Value ClearMap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bpf_map* m = MapByName(env, info[0]);
    if (!m) return env.Undefined();
    size_t ks = bpf_map__key_size(m);
    std::vector<uint8_t> key(ks), next(ks);
    uint32_t n = 0;
    int fd = bpf_map__fd(m);
    // Delete the first key until none is left: deleting while walking
    // with get_next_key would restart the walk anyway.
    while (bpf_map_get_next_key(fd, nullptr, next.data()) == 0) {
      if (bpf_map_delete_elem(fd, next.data()) != 0) break;
      n++;
    }
    return Napi::Number::New(env, n);
  }

  // counters(): the mf_counters per-CPU array, summed over CPUs.
  Napi::Value Counters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Loaded(env)) return env.Undefined();
    bpf_map* m = bpf_object__find_map_by_name(obj_, "mf_counters");
    if (!m) return ThrowError(env, "EBPF_NO_SUCH_MAP", "no map named mf_counters");
    uint32_t n = bpf_map__max_entries(m);
    Napi::Array out = Napi::Array::New(env, n);
    std::vector<uint64_t> vals(ncpu_);
    for (uint32_t k = 0; k < n; k++) {
      uint64_t sum = 0;
      if (bpf_map_lookup_elem(bpf_map__fd(m), &k, vals.data()) == 0)
        for (int c = 0; c < ncpu_; c++) sum += vals[c];
      out.Set(k, Napi::Number::New(env, static_cast<double>(sum)));
    }
    return out;
  }

  // kernelIds(): { programs, links }: the kernel's ids of this object's
  // loaded programs and of the links this tracer holds, as `bpftool prog
  // show` / `bpftool link show` list them. What a caller checks against the
  // kernel to know that exactly this tracer's probes are gone after close().
  Napi::Value KernelIds(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    Napi::Array progs = Napi::Array::New(env);
    Napi::Array links = Napi::Array::New(env);
    out.Set("programs", progs);
    out.Set("links", links);
    if (!obj_) return out;
    uint32_t i = 0;
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj_) {
      int fd = bpf_program__fd(prog);
      if (fd < 0) continue;
      bpf_prog_info pi;
      memset(&pi, 0, sizeof(pi));
      uint32_t len = sizeof(pi);
      if (bpf_obj_get_info_by_fd(fd, &pi, &len) == 0) progs.Set(i++, Napi::Number::New(env, pi.id));
    }
    i = 0;
    for (auto& kv : links_) {
      int fd = bpf_link__fd(kv.second);
      if (fd < 0) continue;
      bpf_link_info li;
      memset(&li, 0, sizeof(li));
      uint32_t len = sizeof(li);
      if (bpf_obj_get_info_by_fd(fd, &li, &len) == 0) links.Set(i++, Napi::Number::New(env, li.id));
    }
    return out;
  }

  // programs(): the object's program names and section names.
  Napi::Value Programs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Loaded(env)) return env.Undefined();
    Napi::Array out = Napi::Array::New(env);
    bpf_program* prog;
    uint32_t i = 0;
    bpf_object__for_each_program(prog, obj_) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_program__name(prog));
      o.Set("section", bpf_program__section_name(prog));
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("events", Napi::Number::New(env, static_cast<double>(events_.load())));
    o.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes_.load())));
    o.Set("batches", Napi::Number::New(env, static_cast<double>(batches_.load())));
    o.Set("waits", Napi::Number::New(env, static_cast<double>(waits_.load())));
    o.Set("links", Napi::Number::New(env, static_cast<double>(links_.size())));
    return o;
  }

  // start(onBatch, { batchBytes, flushMs, maxPending })
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Loaded(env)) return env.Undefined();
    if (running_) return ThrowError(env, "EBPF_ALREADY_STARTED", "the consumer is already running");
    if (info.Length() < 1 || !info[0].IsFunction()) return ThrowError(env, "EBPF_BAD_ARGUMENT", "start(onBatch, options)");
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (o.Has("batchBytes")) batch_bytes_ = std::max<uint32_t>(64 * 1024, o.Get("batchBytes").As<Napi::Number>().Uint32Value());
      if (o.Has("flushMs")) flush_ms_ = std::max<int32_t>(1, o.Get("flushMs").As<Napi::Number>().Int32Value());
      if (o.Has("maxPending")) max_pending_ = std::max<uint32_t>(1, o.Get("maxPending").As<Napi::Number>().Uint32Value());
    }
    bpf_map* events = bpf_object__find_map_by_name(obj_, "mf_events");
    if (!events) return ThrowError(env, "EBPF_NO_SUCH_MAP", "no map named mf_events");
    ClearLog();
    rb_ = ring_buffer__new(bpf_map__fd(events), &Tracer::OnRecord, this, nullptr);
    if (!rb_) return ThrowError(env, "EBPF_RINGBUF_FAILED", "cannot open the ring buffer", errno);
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "metaflow-ebpf-consumer", 0, 1);
    stopping_ = false;
    running_ = true;
    thread_ = std::thread(&Tracer::Run, this);
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopThread();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  void StopThread() {
    if (!running_) return;
    stopping_ = true;
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    running_ = false;
    tsfn_.Release();
    if (rb_) {
      ring_buffer__free(rb_);
      rb_ = nullptr;
    }
  }

  // ---- consumer thread

  void Run() {
    while (!stopping_) {
      int n = ring_buffer__poll(rb_, flush_ms_);
      // Producers skip the wakeup for most records (see wakeup_flags in
      // the BPF code), so a timeout still leaves records to read.
      if (n >= 0) ring_buffer__consume(rb_);
      Flush();
    }
    Flush();
  }

  static int OnRecord(void* ctx, void* data, size_t size) {
    auto* self = static_cast<Tracer*>(ctx);
    return self->Append(static_cast<const uint8_t*>(data), size);
  }

  int Append(const uint8_t* data, size_t size) {
    size_t need = 8 + ((size + 7) & ~size_t(7));
    if (current_ && current_->used + need > current_->data.size()) Flush();
    if (!current_) {
      if (!WaitForRoom()) return -1;  // stopping: abandon the rest
      current_ = new Batch();
      current_->data.resize(std::max(batch_bytes_, need));
    }
    uint8_t* p = current_->data.data() + current_->used;
    uint32_t len = static_cast<uint32_t>(size);
    memcpy(p, &len, 4);
    memset(p + 4, 0, 4);
    memcpy(p + 8, data, size);
    if (need > size + 8) memset(p + 8 + size, 0, need - size - 8);
    current_->used += need;
    current_->count++;
    events_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(size, std::memory_order_relaxed);
    return 0;
  }

  // Waits until JS has taken enough batches; false when stopping.
  bool WaitForRoom() {
    std::unique_lock<std::mutex> lock(mu_);
    if (pending_ >= max_pending_) {
      waits_.fetch_add(1, std::memory_order_relaxed);
      cv_.wait(lock, [this] { return pending_ < max_pending_ || stopping_; });
    }
    return !stopping_;
  }

  void Flush() {
    Batch* b = current_;
    if (!b) return;
    current_ = nullptr;
    if (b->count == 0) {
      delete b;
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_++;
    }
    batches_.fetch_add(1, std::memory_order_relaxed);
    napi_status st = tsfn_.NonBlockingCall(b, [this](Napi::Env env, Napi::Function fn, Batch* batch) { Deliver(env, fn, batch); });
    if (st != napi_ok) {
      delete b;
      Delivered();
    }
  }

  void Delivered() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_) pending_--;
    }
    cv_.notify_all();
  }

  // On the JS thread. The batch is copied into a JS-owned Buffer so that
  // JS may keep views of it; the native memory is freed at once.
  void Deliver(Napi::Env env, Napi::Function fn, Batch* b) {
    if (env == nullptr) {
      delete b;
      Delivered();
      return;
    }
    Napi::HandleScope scope(env);
    Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::Copy(env, b->data.data(), b->used);
    uint32_t count = b->count;
    delete b;
    Delivered();
    fn.Call({buf, Napi::Number::New(env, count)});
  }
};

// clockOffsetNs(): CLOCK_REALTIME - CLOCK_MONOTONIC in ns (as a BigInt), to
// turn the BPF programs' monotonic timestamps into Unix time.
Napi::Value ClockOffsetNs(const Napi::CallbackInfo& info) {
  timespec mono1, real, mono2;
  clock_gettime(CLOCK_MONOTONIC, &mono1);
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_MONOTONIC, &mono2);
  int64_t m1 = int64_t(mono1.tv_sec) * 1000000000 + mono1.tv_nsec;
  int64_t m2 = int64_t(mono2.tv_sec) * 1000000000 + mono2.tv_nsec;
  int64_t r = int64_t(real.tv_sec) * 1000000000 + real.tv_nsec;
  return Napi::BigInt::New(info.Env(), r - (m1 + (m2 - m1) / 2));
}

// possibleCpus()
Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), libbpf_num_possible_cpus());
}

// ensureTracefs(): the tracefs mount point, mounting it when no mount exists
// (tracepoint ids come from tracefs; minimal systems leave it unmounted).
Napi::Value EnsureTracefs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct stat st;
  if (stat("/sys/kernel/tracing/events", &st) == 0) return Napi::String::New(env, "/sys/kernel/tracing");
  if (stat("/sys/kernel/debug/tracing/events", &st) == 0) return Napi::String::New(env, "/sys/kernel/debug/tracing");
  if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
    int err = errno;
    return ThrowError(env, "EBPF_NO_TRACEFS", "tracefs is not mounted and mounting it on /sys/kernel/tracing failed", err);
  }
  return Napi::String::New(env, "/sys/kernel/tracing");
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

void CleanupAll(void*) {
  std::vector<Tracer*> all;
  {
    std::lock_guard<std::mutex> lock(g_tracers_mutex);
    all.assign(g_tracers.begin(), g_tracers.end());
  }
  for (Tracer* t : all) t->Shutdown();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  libbpf_set_print(LibbpfPrint);
  exports.Set("Tracer", Tracer::Init(env));
  exports.Set("clockOffsetNs", Napi::Function::New(env, ClockOffsetNs));
  exports.Set("possibleCpus", Napi::Function::New(env, PossibleCpus));
  exports.Set("ensureTracefs", Napi::Function::New(env, EnsureTracefs));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
  napi_add_env_cleanup_hook(env, CleanupAll, nullptr);
  return exports;
}

}  // namespace

NODE_API_MODULE(metaflow_bpf, Init)
