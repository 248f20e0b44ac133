// render-chart renders a Helm chart without Helm: Go's text/template plus
// sprig (the template engine and function library Helm itself uses) and the
// few Helm built-ins TripDeal's chart needs. It exists because no Helm binary
// can be installed on the build machines; see README.md for what it does not do.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
)

const version = "0.1.0"

const usage = `usage: render-chart CHART_DIR [-f VALUES.yaml]... [--set KEY=VALUE]...
                    [--name RELEASE] [--namespace NS] [--include-crds]
                    [--kube-version vMAJOR.MINOR.PATCH] [--api-versions GROUP/VERSION[/KIND]]...

Renders CHART_DIR's templates the way 'helm template' does and prints the YAML
stream on stdout. Values are checked against CHART_DIR/values.schema.json
first: a value that breaks it exits 1 naming the key.

  -f, --values FILE    values file merged over values.yaml (repeatable, later wins)
  --set KEY=VALUE      dotted key, later wins; VALUE true/false/null/integers are typed
  --set-string K=V     like --set, VALUE always a string
  --name NAME          release name (default "tripdeal")
  --namespace NS       release namespace (default "default")
  --include-crds       also print the files under CHART_DIR/crds/
  --kube-version V     .Capabilities.KubeVersion (default v1.32.0)
  --api-versions GV    add to .Capabilities.APIVersions (repeatable)
  --help, --version
`

type options struct {
	chartDir    string
	valueFiles  []string
	sets        []string
	setStrings  []string
	name        string
	namespace   string
	includeCRDs bool
	kubeVersion string
	apiVersions []string
}

func fail(code int, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "render-chart: "+format+"\n", args...)
	os.Exit(code)
}

func parseArgs(args []string) options {
	o := options{name: "tripdeal", namespace: "default", kubeVersion: "v1.32.0"}
	need := func(i int, flag string) string {
		if i+1 >= len(args) {
			fail(2, "%s needs a value", flag)
		}
		return args[i+1]
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		flag, val, hasEq := a, "", false
		if strings.HasPrefix(a, "--") {
			if k := strings.IndexByte(a, '='); k > 0 {
				flag, val, hasEq = a[:k], a[k+1:], true
			}
		}
		get := func() string {
			if hasEq {
				return val
			}
			v := need(i, flag)
			i++
			return v
		}
		switch flag {
		case "--help", "-h":
			fmt.Print(usage)
			os.Exit(0)
		case "--version":
			fmt.Printf("render-chart %s\n", version)
			os.Exit(0)
		case "-f", "--values":
			o.valueFiles = append(o.valueFiles, get())
		case "--set":
			o.sets = append(o.sets, get())
		case "--set-string":
			o.setStrings = append(o.setStrings, get())
		case "--name":
			o.name = get()
		case "--namespace", "-n":
			o.namespace = get()
		case "--include-crds":
			o.includeCRDs = true
		case "--kube-version":
			o.kubeVersion = get()
		case "--api-versions":
			o.apiVersions = append(o.apiVersions, get())
		default:
			if strings.HasPrefix(a, "-") {
				fail(2, "unknown flag %q (see --help)", a)
			}
			if o.chartDir != "" {
				fail(2, "one chart directory only, got %q and %q", o.chartDir, a)
			}
			o.chartDir = a
		}
	}
	if o.chartDir == "" {
		fail(2, "no chart directory given (see --help)")
	}
	return o
}

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// mergeValues merges src over dst the way Helm coalesces values: maps merge
// key by key, anything else replaces; a null in src deletes the key.
func mergeValues(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			mergeValues(dm, sm)
		} else {
			dst[k] = v
		}
	}
}

var intRe = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

func typedValue(s string) interface{} {
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if intRe.MatchString(s) {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return float64(n)
		}
	}
	return s
}

func applySet(values map[string]interface{}, kv string, asString bool) error {
	eq := strings.IndexByte(kv, '=')
	if eq <= 0 {
		return fmt.Errorf("--set %q: expected KEY=VALUE", kv)
	}
	key, raw := kv[:eq], kv[eq+1:]
	var val interface{} = raw
	if !asString {
		val = typedValue(raw)
	}
	parts := strings.Split(key, ".")
	m := values
	for i, p := range parts {
		if p == "" {
			return fmt.Errorf("--set %q: empty key segment", kv)
		}
		if i == len(parts)-1 {
			if val == nil {
				delete(m, p)
			} else {
				m[p] = val
			}
			break
		}
		next, ok := m[p].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[p] = next
		}
		m = next
	}
	return nil
}

// ---- values.schema.json: the subset of JSON Schema the chart's schema uses.

type schemaError struct{ path, msg string }

func (e schemaError) Error() string { return e.path + ": " + e.msg }

func jsonType(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []interface{}:
		return "array"
	case map[string]interface{}:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func typeMatches(want, got string) bool {
	return want == got || (want == "number" && got == "integer")
}

var knownKeywords = map[string]bool{
	"$schema": true, "$id": true, "title": true, "description": true, "default": true,
	"examples": true, "type": true, "properties": true, "required": true,
	"additionalProperties": true, "items": true, "enum": true, "minimum": true,
	"maximum": true, "minLength": true, "maxLength": true, "pattern": true,
	"minItems": true, "maxItems": true, "format": true, "$comment": true,
}

func validate(schema map[string]interface{}, v interface{}, at string, errs *[]error) {
	for k := range schema {
		if !knownKeywords[k] {
			*errs = append(*errs, schemaError{at, fmt.Sprintf("schema keyword %q is not supported by render-chart (see its README)", k)})
		}
	}
	if t, ok := schema["type"]; ok {
		got := jsonType(v)
		var wants []string
		switch tt := t.(type) {
		case string:
			wants = []string{tt}
		case []interface{}:
			for _, w := range tt {
				wants = append(wants, fmt.Sprint(w))
			}
		}
		okType := false
		for _, w := range wants {
			if typeMatches(w, got) {
				okType = true
			}
		}
		if !okType {
			*errs = append(*errs, schemaError{at, fmt.Sprintf("is %s, must be %s", got, strings.Join(wants, " or "))})
			return
		}
	}
	if enum, ok := schema["enum"].([]interface{}); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) && jsonType(e) == jsonType(v) {
				found = true
			}
		}
		if !found {
			var names []string
			for _, e := range enum {
				names = append(names, fmt.Sprint(e))
			}
			*errs = append(*errs, schemaError{at, fmt.Sprintf("%v is not one of [%s]", v, strings.Join(names, ", "))})
		}
	}
	switch x := v.(type) {
	case float64:
		if min, ok := schema["minimum"].(float64); ok && x < min {
			*errs = append(*errs, schemaError{at, fmt.Sprintf("%v is below the minimum %v", x, min)})
		}
		if max, ok := schema["maximum"].(float64); ok && x > max {
			*errs = append(*errs, schemaError{at, fmt.Sprintf("%v is above the maximum %v", x, max)})
		}
	case string:
		if n, ok := schema["minLength"].(float64); ok && float64(len(x)) < n {
			*errs = append(*errs, schemaError{at, fmt.Sprintf("is shorter than %v characters", n)})
		}
		if n, ok := schema["maxLength"].(float64); ok && float64(len(x)) > n {
			*errs = append(*errs, schemaError{at, fmt.Sprintf("is longer than %v characters", n)})
		}
		if p, ok := schema["pattern"].(string); ok {
			re, err := regexp.Compile(p)
			if err != nil {
				*errs = append(*errs, schemaError{at, fmt.Sprintf("schema pattern %q: %v", p, err)})
			} else if !re.MatchString(x) {
				*errs = append(*errs, schemaError{at, fmt.Sprintf("%q does not match %s", x, p)})
			}
		}
	case []interface{}:
		if n, ok := schema["minItems"].(float64); ok && float64(len(x)) < n {
			*errs = append(*errs, schemaError{at, fmt.Sprintf("has fewer than %v items", n)})
		}
		if n, ok := schema["maxItems"].(float64); ok && float64(len(x)) > n {
			*errs = append(*errs, schemaError{at, fmt.Sprintf("has more than %v items", n)})
		}
		if items, ok := schema["items"].(map[string]interface{}); ok {
			for i, item := range x {
				validate(items, item, fmt.Sprintf("%s[%d]", at, i), errs)
			}
		}
	case map[string]interface{}:
		props, _ := schema["properties"].(map[string]interface{})
		if req, ok := schema["required"].([]interface{}); ok {
			for _, r := range req {
				if _, present := x[fmt.Sprint(r)]; !present {
					*errs = append(*errs, schemaError{join(at, fmt.Sprint(r)), "is required"})
				}
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]interface{}); ok {
				validate(ps, x[k], join(at, k), errs)
				continue
			}
			switch ap := schema["additionalProperties"].(type) {
			case bool:
				if !ap {
					*errs = append(*errs, schemaError{join(at, k), "is not a known key (additionalProperties: false)"})
				}
			case map[string]interface{}:
				validate(ap, x[k], join(at, k), errs)
			}
		}
	}
}

func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

// ---- Helm's built-in objects.

type chartMeta struct {
	APIVersion  string
	Name        string
	Version     string
	AppVersion  string
	Description string
	Type        string
	KubeVersion string
	Home        string
	Keywords    []string
	Sources     []string
}

type release struct {
	Name      string
	Namespace string
	Service   string
	Revision  int
	IsInstall bool
	IsUpgrade bool
}

type kubeVersion struct{ Version, Major, Minor, GitVersion string }

func (k kubeVersion) String() string { return k.Version }

type apiVersions []string

// Has reports whether a group/version (or group/version/Kind) is served.
func (a apiVersions) Has(gv string) bool {
	for _, v := range a {
		if v == gv {
			return true
		}
	}
	return false
}

type capabilities struct {
	KubeVersion kubeVersion
	APIVersions apiVersions
}

// files is .Files: the chart's non-template files by path.
type files map[string][]byte

func (f files) Get(name string) string { return string(f[name]) }

func (f files) Glob(pattern string) files {
	out := files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

// AsConfig renders the files as a ConfigMap data block (base name: content).
func (f files) AsConfig() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = string(data)
	}
	out, _ := yaml.Marshal(m)
	return strings.TrimSuffix(string(out), "\n")
}

func loadFiles(chartDir string) (files, error) {
	out := files{}
	err := filepath.Walk(chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		rel = filepath.ToSlash(rel)
		if info.IsDir() {
			if rel == "templates" || rel == "ci" || strings.HasPrefix(path.Base(rel), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if rel == "values.yaml" || rel == "Chart.yaml" || rel == "values.schema.json" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = data
		return nil
	})
	return out, err
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func render(o options) (string, error) {
	chartDir := filepath.Clean(o.chartDir)
	chartRaw, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", fmt.Errorf("reading the chart: %v", err)
	}
	var meta chartMeta
	if data, err := json.Marshal(chartRaw); err == nil {
		_ = json.Unmarshal(data, &meta)
	}
	// Chart.yaml keys are lower camel case; Helm exposes them capitalised.
	get := func(k string) string { s, _ := chartRaw[k].(string); return s }
	meta.APIVersion, meta.Name, meta.Version = get("apiVersion"), get("name"), get("version")
	meta.AppVersion, meta.Description, meta.Type = get("appVersion"), get("description"), get("type")
	meta.KubeVersion, meta.Home = get("kubeVersion"), get("home")
	if meta.APIVersion != "v2" {
		return "", fmt.Errorf("Chart.yaml: apiVersion must be v2, is %q", meta.APIVersion)
	}
	if meta.Name == "" || meta.Version == "" {
		return "", errors.New("Chart.yaml: name and version are required")
	}

	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", fmt.Errorf("reading the chart's values: %v", err)
	}
	for _, f := range o.valueFiles {
		m, err := readYAMLMap(f)
		if err != nil {
			return "", fmt.Errorf("values file: %v", err)
		}
		mergeValues(values, m)
	}
	for _, s := range o.sets {
		if err := applySet(values, s, false); err != nil {
			return "", err
		}
	}
	for _, s := range o.setStrings {
		if err := applySet(values, s, true); err != nil {
			return "", err
		}
	}

	if data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json")); err == nil {
		var schema map[string]interface{}
		if err := json.Unmarshal(data, &schema); err != nil {
			return "", fmt.Errorf("values.schema.json: %v", err)
		}
		var errs []error
		validate(schema, values, "", &errs)
		if len(errs) > 0 {
			var lines []string
			for _, e := range errs {
				lines = append(lines, "  - "+e.Error())
			}
			fmt.Fprintf(os.Stderr, "render-chart: values don't meet the specifications of the schema:\n%s\n", strings.Join(lines, "\n"))
			os.Exit(1)
		}
	} else if !os.IsNotExist(err) {
		return "", err
	}

	chartFiles, err := loadFiles(chartDir)
	if err != nil {
		return "", err
	}

	kv := strings.TrimPrefix(o.kubeVersion, "v")
	kparts := strings.SplitN(kv, ".", 3)
	if len(kparts) < 2 {
		return "", fmt.Errorf("--kube-version %q: expected vMAJOR.MINOR.PATCH", o.kubeVersion)
	}
	apis := apiVersions{"v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1",
		"rbac.authorization.k8s.io/v1", "coordination.k8s.io/v1", "autoscaling/v2",
		"apiextensions.k8s.io/v1", "discovery.k8s.io/v1"}
	apis = append(apis, o.apiVersions...)

	top := map[string]interface{}{
		"Values":  values,
		"Chart":   meta,
		"Release": release{Name: o.name, Namespace: o.namespace, Service: "Helm", Revision: 1, IsInstall: true},
		"Capabilities": capabilities{
			KubeVersion: kubeVersion{Version: "v" + kv, Major: kparts[0], Minor: kparts[1], GitVersion: "v" + kv},
			APIVersions: apis,
		},
		"Files":    chartFiles,
		"Template": map[string]interface{}{"BasePath": meta.Name + "/templates"},
	}

	tmpl := template.New("chart")
	const recursionMax = 100
	includeDepth := 0
	funcs := sprig.TxtFuncMap()
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["toJson"] = toJSON
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		includeDepth++
		defer func() { includeDepth-- }()
		if includeDepth > recursionMax {
			return "", fmt.Errorf("include %q: nested too deep", name)
		}
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := tmpl.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	funcs["lookup"] = func(string, string, string, string) map[string]interface{} {
		return map[string]interface{}{}
	}
	// Helm removes these from sprig.
	delete(funcs, "env")
	delete(funcs, "expandenv")
	tmpl.Funcs(funcs).Option("missingkey=zero")

	tdir := filepath.Join(chartDir, "templates")
	var names []string
	err = filepath.Walk(tdir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(chartDir, p)
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading templates: %v", err)
	}
	sort.Strings(names)
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(chartDir, n))
		if err != nil {
			return "", err
		}
		if _, err := tmpl.New(meta.Name + "/" + n).Parse(string(data)); err != nil {
			return "", err
		}
	}

	var out strings.Builder
	if o.includeCRDs {
		crds, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
		sort.Strings(crds)
		for _, c := range crds {
			data, err := os.ReadFile(c)
			if err != nil {
				return "", err
			}
			rel, _ := filepath.Rel(chartDir, c)
			fmt.Fprintf(&out, "---\n# Source: %s/%s\n%s", meta.Name, filepath.ToSlash(rel), strings.TrimPrefix(string(data), "---\n"))
			if !strings.HasSuffix(string(data), "\n") {
				out.WriteString("\n")
			}
		}
	}
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, meta.Name+"/"+n, top); err != nil {
			return "", err
		}
		for _, doc := range splitDocs(buf.String()) {
			var parsed interface{}
			if err := yaml.Unmarshal([]byte(doc), &parsed); err != nil {
				return "", fmt.Errorf("%s/%s renders invalid YAML: %v\n%s", meta.Name, n, err, doc)
			}
			if parsed == nil {
				continue
			}
			fmt.Fprintf(&out, "---\n# Source: %s/%s\n%s\n", meta.Name, n, strings.TrimRight(doc, "\n "))
		}
	}
	return out.String(), nil
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

func splitDocs(s string) []string {
	var docs []string
	for _, d := range docSep.Split(s, -1) {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, strings.Trim(d, "\n"))
		}
	}
	return docs
}

func main() {
	o := parseArgs(os.Args[1:])
	out, err := render(o)
	if err != nil {
		fail(1, "%v", err)
	}
	fmt.Print(out)
}
