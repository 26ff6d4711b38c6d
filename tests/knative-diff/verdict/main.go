// Command knative-verdict judges the differential test's cases with Knative
// Serving v0.50.0's own code.
//
// It reads cases (JSON lines, see ../README.md) from stdin, or from the files
// named as arguments, and writes one verdict line per case to stdout, in the
// cases' order. A case never stops the program: a panic inside Knative's code
// is caught and reported as a refusal at stage "validate" with the message
// "panic: ..." (and logged on stderr).
//
// What each step mirrors:
//
//   - YAML to JSON: kubectl and the API server's YAML decoding,
//     sigs.k8s.io/yaml.YAMLToJSONStrict (YAML 1.1 scalars, duplicate keys
//     refused).
//   - the strict decode: the API server's strict field validation
//     (fieldValidation=Strict, what `kubectl apply` asks for), i.e.
//     sigs.k8s.io/json.UnmarshalStrict into the typed Knative object:
//     case-sensitive, unknown and duplicate fields refused.
//   - namespace "default": the API server fills in the request's namespace.
//   - generateName: the API server makes the name (the base cut to 58
//     characters, then 5 random characters) after the mutating webhooks and
//     before the validating ones; the 5 characters are fixed here ("x2b4d")
//     so verdicts are stable.
//   - defaulting: knative.dev/pkg/webhook/resourcesemantics/defaulting's
//     mutate(): the old object (an update's baseline) defaulted again, then
//     apis.WithinUpdate(old) or apis.WithinCreate, apis.WithUserInfo,
//     SetDefaults. (The webhook's own setUserInfoAnnotations only acts on
//     apis.HasSpec objects, which serving's v1 types are not; their
//     SetDefaults sets serving.knative.dev/creator and lastModifier itself.)
//   - the hand-over: the mutated object reaches the validating webhook as JSON
//     (the API server applied the JSON patch), decoded leniently again.
//   - the API server's own checks of the object's metadata, between the
//     mutating and the validating webhooks (apiextensions-apiserver's
//     customResourceValidator: ValidateObjectMetaAccessor with
//     NameIsDNSSubdomain on create, ValidateObjectMetaAccessorUpdate on
//     update): label and annotation syntax, the name, the namespace. They
//     stop the request, so Knative's validation does not run then.
//   - validation: knative.dev/pkg/webhook/resourcesemantics/validation's
//     decodeRequestAndPrepareContext() and validate(): apis.WithUserInfo, then
//     apis.WithinUpdate(stored old object) or apis.WithinCreate, Validate, and
//     only the error-level part of the result (Filter(apis.ErrorLevel)).
//     Serving's extra callbacks (ValidateService/ValidateConfiguration) only
//     act on dry-run requests against a cluster, so they are not run.
//   - the config store: serving's webhook puts apisconfig.Store.ToContext in
//     both webhooks, holding config-defaults, config-features and
//     config-autoscaler; here it is built from the case's `config` with the
//     same NewXFromMap constructors (a map not given has its defaults).
//   - an update's old object is the object "as stored": decoded the same
//     way, defaulted within a create, named, and given what the API server
//     sets (uid, resourceVersion, generation, creationTimestamp). The update
//     is a `kubectl apply`: the JSON merge patch from old_yaml to yaml
//     applied to the stored object, so what the user did not touch
//     (server-set annotations, defaulted fields) stays as stored.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	authv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	netcfg "knative.dev/networking/pkg/config"
	"knative.dev/pkg/apis"
	"knative.dev/serving/pkg/apis/autoscaling"
	apisconfig "knative.dev/serving/pkg/apis/config"
	v1 "knative.dev/serving/pkg/apis/serving/v1"
	asconfig "knative.dev/serving/pkg/autoscaler/config"
)

// Case is one line of the corpus (../README.md, "A case").
type Case struct {
	ID          string                       `json:"id"`
	Check       string                       `json:"check"`
	YAML        string                       `json:"yaml"`
	Op          string                       `json:"op"`
	OldYAML     string                       `json:"old_yaml"`
	Config      map[string]map[string]string `json:"config"`
	Name        string                       `json:"name"`
	Data        map[string]string            `json:"data"`
	Annotations map[string]string            `json:"annotations"`
}

// Verdict is one line of the output (../README.md, "A verdict").
type Verdict struct {
	ID     string     `json:"id"`
	OK     bool       `json:"ok"`
	Stage  string     `json:"stage"`
	Errors []ErrorOut `json:"errors"`
}

// ErrorOut is one error-level problem and its full field paths.
type ErrorOut struct {
	Message string   `json:"message"`
	Paths   []string `json:"paths"`
}

const (
	stageDecode   = "decode"
	stageValidate = "validate"
	// The API server's name generator appends 5 random characters from
	// "bcdfghjklmnpqrstvwxz2456789"; a fixed choice keeps verdicts stable.
	generatedSuffix = "x2b4d"
	// k8s.io/apiserver/pkg/storage/names: maxGeneratedNameLength = 63 - 5.
	maxGeneratedBase = 58
)

// admin is the request's user, as the API server passes it to the webhooks.
var admin = &authv1.UserInfo{Username: "admin"}

func main() {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)

	run := func(r io.Reader, name string) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
		n := 0
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			var c Case
			var v Verdict
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				fmt.Fprintf(os.Stderr, "%s:%d: not a case: %v\n", name, n, err)
				v = refuse(stageDecode, ErrorOut{Message: "not a case: " + err.Error()})
				if c.ID == "" {
					c.ID = fmt.Sprintf("%s:%d", name, n)
				}
			} else {
				v = judge(&c)
			}
			v.ID = c.ID
			if v.Errors == nil {
				v.Errors = []ErrorOut{}
			}
			for i := range v.Errors {
				if v.Errors[i].Paths == nil {
					v.Errors[i].Paths = []string{}
				}
			}
			if err := enc.Encode(&v); err != nil {
				fmt.Fprintf(os.Stderr, "writing a verdict: %v\n", err)
				os.Exit(2)
			}
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			out.Flush()
			os.Exit(2)
		}
	}

	if len(os.Args) < 2 {
		run(os.Stdin, "stdin")
		return
	}
	for _, p := range os.Args[1:] {
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%v\n", err)
			out.Flush()
			os.Exit(2)
		}
		run(f, p)
		f.Close()
	}
}

func refuse(stage string, errs ...ErrorOut) Verdict {
	return Verdict{OK: false, Stage: stage, Errors: errs}
}

// judge runs one case, turning a panic in Knative's code into a refusal.
func judge(c *Case) (v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "case %s: panic: %v\n%s\n", c.ID, r, debug.Stack())
			v = refuse(stageValidate, ErrorOut{Message: fmt.Sprintf("panic: %v", r), Paths: []string{}})
		}
	}()
	switch c.Check {
	case "resource":
		return judgeResource(c)
	case "configmap":
		return judgeConfigMap(c.Name, c.Data)
	case "annotations":
		cfg, bad := buildConfig(c.Config)
		if bad != nil {
			return *bad
		}
		ctx := apisconfig.ToContext(context.Background(), cfg)
		// knative.dev/serving/pkg/apis/autoscaling.ValidateAnnotations, as
		// RevisionTemplateSpec validation calls it for the template's
		// annotations.
		return fromFieldError(autoscaling.ValidateAnnotations(ctx, cfg.Autoscaler, c.Annotations))
	default:
		return refuse(stageDecode, ErrorOut{Message: fmt.Sprintf("unknown check %q", c.Check), Paths: []string{}})
	}
}

// ---- config maps ----

// configKeyWord finds config keys in an error message.
var configKeyWord = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]`)

// keyInMessage names the config key an error message speaks of: the first
// key of data that appears in it as a whole word; else the first word that
// is a key once case and dashes are ignored (config-network's messages say
// "httpProtocol" for http-protocol); else, when data has a single key, that
// key (the defaults alone always parse, so the error is that key's); else
// none.
func keyInMessage(msg string, data map[string]string) []string {
	words := configKeyWord.FindAllString(msg, -1)
	for _, w := range words {
		if _, ok := data[w]; ok {
			return []string{w}
		}
	}
	squash := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "")) }
	for _, w := range words {
		for k := range data {
			if squash(k) == squash(w) {
				return []string{k}
			}
		}
	}
	if len(data) == 1 {
		for k := range data {
			return []string{k}
		}
	}
	return []string{}
}

// judgeConfigMap parses a config map with the constructor Knative's
// config-validation webhook and controllers use for it.
func judgeConfigMap(name string, data map[string]string) Verdict {
	if data == nil {
		data = map[string]string{}
	}
	var err error
	switch name {
	case asconfig.ConfigName: // config-autoscaler
		_, err = asconfig.NewConfigFromMap(data)
	case apisconfig.DefaultsConfigName: // config-defaults
		_, err = apisconfig.NewDefaultsConfigFromMap(data)
	case apisconfig.FeaturesConfigName: // config-features
		_, err = apisconfig.NewFeaturesConfigFromMap(data)
	case netcfg.ConfigMapName: // config-network
		_, err = netcfg.NewConfigFromMap(data)
	default:
		return refuse(stageValidate, ErrorOut{Message: fmt.Sprintf("unknown config map %q", name), Paths: []string{}})
	}
	if err != nil {
		return refuse(stageValidate, ErrorOut{Message: err.Error(), Paths: keyInMessage(err.Error(), data)})
	}
	return Verdict{OK: true}
}

// buildConfig builds what serving's apisconfig.Store holds from the case's
// config maps; a map not given has its defaults. A map that does not parse
// makes the case a refusal naming that map.
func buildConfig(maps map[string]map[string]string) (*apisconfig.Config, *Verdict) {
	get := func(n string) map[string]string {
		if d, ok := maps[n]; ok && d != nil {
			return d
		}
		return map[string]string{}
	}
	for n := range maps {
		switch n {
		case apisconfig.DefaultsConfigName, apisconfig.FeaturesConfigName, asconfig.ConfigName:
		default:
			v := refuse(stageValidate, ErrorOut{Message: fmt.Sprintf("config: unknown config map %q", n), Paths: []string{}})
			return nil, &v
		}
	}
	cfg := &apisconfig.Config{}
	var err error
	fail := func(n string, err error) (*apisconfig.Config, *Verdict) {
		v := refuse(stageValidate, ErrorOut{Message: n + ": " + err.Error(), Paths: keyInMessage(err.Error(), get(n))})
		return nil, &v
	}
	if cfg.Defaults, err = apisconfig.NewDefaultsConfigFromMap(get(apisconfig.DefaultsConfigName)); err != nil {
		return fail(apisconfig.DefaultsConfigName, err)
	}
	if cfg.Features, err = apisconfig.NewFeaturesConfigFromMap(get(apisconfig.FeaturesConfigName)); err != nil {
		return fail(apisconfig.FeaturesConfigName, err)
	}
	if cfg.Autoscaler, err = asconfig.NewConfigFromMap(get(asconfig.ConfigName)); err != nil {
		return fail(asconfig.ConfigName, err)
	}
	return cfg, nil
}

// ---- resources ----

// object is what the four kinds have in common for the webhook.
type object interface {
	apis.Defaultable
	apis.Validatable
	metav1.Object
}

const servingV1 = "serving.knative.dev/v1"

func newObject(kind string) object {
	switch kind {
	case "Service":
		return &v1.Service{}
	case "Configuration":
		return &v1.Configuration{}
	case "Revision":
		return &v1.Revision{}
	case "Route":
		return &v1.Route{}
	}
	return nil
}

// quoted pulls the field path out of sigs.k8s.io/json's strict errors
// (`unknown field "spec.foo"`, `duplicate field "spec.foo"`).
var quoted = regexp.MustCompile(`^(?:unknown|duplicate) field "(.*)"$`)

// manifestJSON is a manifest as JSON, as kubectl sends it.
func manifestJSON(doc string) ([]byte, error) {
	return yaml.YAMLToJSONStrict([]byte(doc))
}

// decode turns a user's manifest into the typed object as the API server
// would store it before admission. The returned errors are decode errors.
func decode(doc string) (object, []ErrorOut) {
	// kubectl / the API server: YAML 1.1 to JSON, duplicate keys refused.
	js, err := manifestJSON(doc)
	if err != nil {
		return nil, []ErrorOut{{Message: err.Error(), Paths: []string{}}}
	}
	// The type the API server dispatches on.
	var tm struct {
		APIVersion interface{} `json:"apiVersion"`
		Kind       interface{} `json:"kind"`
	}
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, []ErrorOut{{Message: "not an object: " + err.Error(), Paths: []string{}}}
	}
	if s, _ := tm.APIVersion.(string); s != servingV1 {
		return nil, []ErrorOut{{Message: fmt.Sprintf("apiVersion %v is not %s", tm.APIVersion, servingV1), Paths: []string{"apiVersion"}}}
	}
	kind, _ := tm.Kind.(string)
	obj := newObject(kind)
	if obj == nil {
		return nil, []ErrorOut{{Message: fmt.Sprintf("no kind %v is registered for version %s", tm.Kind, servingV1), Paths: []string{"kind"}}}
	}
	// The API server's strict field validation: sigs.k8s.io/json strict
	// decode into the typed object.
	strictErrs, err := kjson.UnmarshalStrict(js, obj)
	var out []ErrorOut
	if err != nil {
		out = append(out, goDecodeError(err, js))
	}
	for _, se := range strictErrs {
		msg := se.Error()
		paths := []string{}
		if m := quoted.FindStringSubmatch(msg); m != nil {
			paths = []string{m[1]}
		}
		out = append(out, ErrorOut{Message: msg, Paths: paths})
	}
	if len(out) > 0 {
		return nil, out
	}
	// The request's namespace.
	if obj.GetNamespace() == "" {
		obj.SetNamespace("default")
	}
	return obj, nil
}

// goDecodeError gives a Go decode error's field path as Go names it, without
// the names of embedded structs (Go writes
// "spec.ConfigurationSpec.template.spec.PodSpec.containers"; the user wrote
// "spec.template.spec.containers"). An error of a type's own UnmarshalJSON
// (resource.Quantity) carries no path; then the value is looked for in the
// document (see quantityPath).
func goDecodeError(err error, js []byte) ErrorOut {
	msg := err.Error()
	// sigs.k8s.io/json's internal decoder has its own UnmarshalTypeError,
	// whose message is "json: cannot unmarshal X into Go struct field T.path
	// of type Y"; take the path from there.
	if i := strings.Index(msg, "Go struct field "); i >= 0 {
		rest := msg[i+len("Go struct field "):]
		if j := strings.Index(rest, " of type "); j >= 0 {
			rest = rest[:j]
		}
		if k := strings.Index(rest, "."); k >= 0 {
			var parts []string
			for _, p := range strings.Split(rest[k+1:], ".") {
				if p != "" && p[0] >= 'A' && p[0] <= 'Z' {
					continue // an embedded struct's type name
				}
				parts = append(parts, p)
			}
			return ErrorOut{Message: msg, Paths: []string{strings.Join(parts, ".")}}
		}
	}
	if strings.Contains(msg, "quantities must match") || strings.Contains(msg, "quantity") {
		var doc interface{}
		if json.Unmarshal(js, &doc) == nil {
			if p := quantityPath(doc, "", ""); p != "" {
				return ErrorOut{Message: msg, Paths: []string{p}}
			}
		}
	}
	return ErrorOut{Message: msg, Paths: []string{}}
}

// quantityPath finds the first value at a resource.Quantity's place (the
// values of limits, requests and overhead, emptyDir's sizeLimit) that
// resource.Quantity's UnmarshalJSON refuses, and gives its path without list
// indices, as Go's decode errors name fields.
func quantityPath(v interface{}, path, key string) string {
	join := func(p, k string) string {
		if p == "" {
			return k
		}
		return p + "." + k
	}
	switch t := v.(type) {
	case map[string]interface{}:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub := t[k]
			if key == "limits" || key == "requests" || key == "overhead" {
				if !quantityOK(sub) {
					return join(path, k)
				}
				continue
			}
			if k == "sizeLimit" && !quantityOK(sub) {
				return join(path, k)
			}
			if p := quantityPath(sub, join(path, k), k); p != "" {
				return p
			}
		}
	case []interface{}:
		for _, e := range t {
			if p := quantityPath(e, path, key); p != "" {
				return p
			}
		}
	}
	return ""
}

// quantityOK is resource.Quantity's UnmarshalJSON on a decoded JSON value.
func quantityOK(v interface{}) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	var q resource.Quantity
	return q.UnmarshalJSON(b) == nil
}

// generateName is the API server's name generation (between the mutating
// and the validating webhooks).
func generateName(obj object) {
	if obj.GetName() == "" && obj.GetGenerateName() != "" {
		base := obj.GetGenerateName()
		if len(base) > maxGeneratedBase {
			base = base[:maxGeneratedBase]
		}
		obj.SetName(base + generatedSuffix)
	}
}

// deepCopy copies a Knative object.
func deepCopy(o object) object {
	switch t := o.(type) {
	case *v1.Service:
		return t.DeepCopy()
	case *v1.Configuration:
		return t.DeepCopy()
	case *v1.Revision:
		return t.DeepCopy()
	case *v1.Route:
		return t.DeepCopy()
	}
	panic(fmt.Sprintf("deepCopy: %T", o))
}

// viaJSON is the hand-over from the mutating to the validating webhook: the
// object as JSON, decoded again leniently (knative.dev/pkg/webhook/json).
func viaJSON(o object) object {
	b, err := json.Marshal(o)
	if err != nil {
		panic(err)
	}
	n := newObjectLike(o)
	if err := json.Unmarshal(b, n); err != nil {
		panic(err)
	}
	return n
}

func newObjectLike(o object) object {
	switch o.(type) {
	case *v1.Service:
		return &v1.Service{}
	case *v1.Configuration:
		return &v1.Configuration{}
	case *v1.Revision:
		return &v1.Revision{}
	case *v1.Route:
		return &v1.Route{}
	}
	panic(fmt.Sprintf("newObjectLike: %T", o))
}

// store makes an object as the API server stores it on create: defaulted
// and annotated by the mutating webhook, named if it had a generateName.
func store(base context.Context, obj object) object {
	ctx := apis.WithUserInfo(apis.WithinCreate(base), admin)
	obj.SetDefaults(ctx)
	generateName(obj)
	// What the API server sets on a stored object.
	obj.SetUID("00000000-0000-0000-0000-000000000001")
	obj.SetResourceVersion("1")
	obj.SetGeneration(1)
	obj.SetCreationTimestamp(metav1.Unix(1700000000, 0))
	return viaJSON(obj)
}

func judgeResource(c *Case) Verdict {
	cfg, bad := buildConfig(c.Config)
	if bad != nil {
		return *bad
	}
	// Both webhooks run store.ToContext first.
	base := apisconfig.ToContext(context.Background(), cfg)

	obj, derrs := decode(c.YAML)
	if derrs != nil {
		return refuse(stageDecode, derrs...)
	}

	switch c.Op {
	case "", "create":
		// Mutating webhook (defaulting.mutate): WithinCreate, WithUserInfo,
		// SetDefaults (serving's SetDefaults sets the creator and
		// lastModifier annotations itself).
		dctx := apis.WithUserInfo(apis.WithinCreate(base), admin)
		obj.SetDefaults(dctx)
		// The API server names a generateName object and validates the
		// object's metadata (the custom resource strategy's Validate), then
		// hands it on.
		generateName(obj)
		if errs := apivalidation.ValidateObjectMetaAccessor(obj, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata")); len(errs) > 0 {
			return fromFieldErrorList(errs)
		}
		obj = viaJSON(obj)
		// Validating webhook (validation.decodeRequestAndPrepareContext).
		vctx := apis.WithinCreate(apis.WithUserInfo(base, admin))
		return fromFieldError(obj.Validate(vctx))

	case "update":
		oldObj, derrs := decode(c.OldYAML)
		if derrs != nil {
			for i := range derrs {
				derrs[i].Message = "old_yaml: " + derrs[i].Message
			}
			return refuse(stageDecode, derrs...)
		}
		if fmt.Sprintf("%T", oldObj) != fmt.Sprintf("%T", obj) {
			return refuse(stageDecode, ErrorOut{Message: "old_yaml is of another kind", Paths: []string{"kind"}})
		}
		stored := store(base, oldObj)
		// `kubectl apply` of a custom resource: the change from the last
		// applied manifest (old_yaml) to the new one, as a JSON merge patch,
		// applied by the API server to the stored object. What the user did
		// not touch (server-set annotations, defaulted fields, the name, the
		// version) stays as stored.
		oldJSON, _ := manifestJSON(c.OldYAML)
		newJSON, _ := manifestJSON(c.YAML)
		patch, err := jsonpatch.CreateMergePatch(oldJSON, newJSON)
		if err != nil {
			return refuse(stageDecode, ErrorOut{Message: "merge patch: " + err.Error(), Paths: []string{}})
		}
		storedJSON, err := json.Marshal(stored)
		if err != nil {
			panic(err)
		}
		merged, err := jsonpatch.MergePatch(storedJSON, patch)
		if err != nil {
			return refuse(stageDecode, ErrorOut{Message: "merge patch: " + err.Error(), Paths: []string{}})
		}
		obj = newObjectLike(stored)
		if err := json.Unmarshal(merged, obj); err != nil {
			return refuse(stageDecode, goDecodeError(err, merged))
		}

		// Mutating webhook: the old object copied and defaulted again
		// (without user info in the context), then WithinUpdate(old),
		// WithUserInfo, SetDefaults.
		oldD := deepCopy(stored)
		oldD.SetDefaults(base)
		dctx := apis.WithUserInfo(apis.WithinUpdate(base, oldD), admin)
		obj.SetDefaults(dctx)
		// The API server's metadata checks of an update (the custom
		// resource strategy's ValidateUpdate).
		if errs := apivalidation.ValidateObjectMetaAccessorUpdate(obj, stored, field.NewPath("metadata")); len(errs) > 0 {
			return fromFieldErrorList(errs)
		}
		obj = viaJSON(obj)
		// Validating webhook: WithUserInfo, WithinUpdate(the stored object).
		vctx := apis.WithinUpdate(apis.WithUserInfo(base, admin), stored)
		return fromFieldError(obj.Validate(vctx))
	default:
		return refuse(stageDecode, ErrorOut{Message: fmt.Sprintf("unknown op %q", c.Op), Paths: []string{}})
	}
}

// fromFieldErrorList reports the API server's own metadata errors, which
// stop a request before the validating webhooks see it.
func fromFieldErrorList(errs field.ErrorList) Verdict {
	out := make([]ErrorOut, 0, len(errs))
	for _, e := range errs {
		out = append(out, ErrorOut{Message: e.ErrorBody(), Paths: []string{e.Field}})
	}
	return refuse(stageValidate, out...)
}

// fromFieldError turns Knative's result into a verdict: the error-level part
// only (as the validating webhook does), one entry per leaf of the error
// tree as Knative itself flattens it for the user (WrappedErrors: each leaf
// with its full paths, entries with equal message and details merged).
func fromFieldError(fe *apis.FieldError) Verdict {
	errs := fe.Filter(apis.ErrorLevel)
	if errs == nil {
		return Verdict{OK: true}
	}
	var out []ErrorOut
	for _, e := range errs.WrappedErrors() {
		if e.Message == "" {
			continue
		}
		msg := e.Message
		if e.Details != "" {
			msg += " — " + e.Details
		}
		paths := append([]string{}, e.Paths...)
		sort.Strings(paths)
		out = append(out, ErrorOut{Message: msg, Paths: paths})
	}
	if len(out) == 0 {
		// An error-level FieldError with no message: still a refusal.
		out = []ErrorOut{{Message: errs.Error(), Paths: []string{}}}
	}
	return refuse(stageValidate, out...)
}
