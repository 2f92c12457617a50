// Package build turns an app directory into a bundle: it discovers the
// route.go files under DIR/app, reads their exported method handlers and
// segment config from the syntax tree, generates a main package per route,
// compiles each with GOOS=wasip1 GOARCH=wasm, and writes DIR/.wasmroute.
package build

import (
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host/router"
)

// RouteFile is the file that marks a folder as a route.
const RouteFile = "route.go"

// Methods are the handler names a route file can export, in canonical order.
var Methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// HandlerKind says how a route exports a method.
type HandlerKind int

// Handler kinds.
const (
	FuncHandler HandlerKind = iota // func GET(w http.ResponseWriter, r *http.Request)
	VarHandler                     // var GET = withAuth(get)
)

// Route is one route folder found under DIR/app.
type Route struct {
	// Pattern is the URL pattern: "/api/users/[id]".
	Pattern string
	// Dir is the folder's absolute path.
	Dir string
	// Source is route.go relative to the app directory, "/"-separated.
	Source string
	// Files are the folder's non-test .go files, absolute.
	Files []string
	// Methods maps each exported method to how it is exported.
	Methods map[string]HandlerKind
	// Config is the segment config read from exported constants.
	Config bundle.SegmentConfig
	// Warnings are problems that do not stop the build.
	Warnings []string
	// ID names the route's module and generated package.
	ID string
	// Middleware marks app/middleware.go, built like a route but run before
	// routes; Pattern is then "middleware".
	Middleware bool
	// Matcher holds the middleware's path patterns (var Matcher).
	Matcher []string
}

// MethodList returns the route's methods in canonical order.
func (r *Route) MethodList() []string {
	var out []string
	for _, m := range Methods {
		if _, ok := r.Methods[m]; ok {
			out = append(out, m)
		}
	}
	return out
}

// Discover finds the routes of the app in dir, sorted by pattern. Two folders
// claiming the same URLs, a route that exports no handler, or an app with no
// routes are errors naming the files.
func Discover(dir string) ([]*Route, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	appDir := filepath.Join(dir, "app")
	if st, err := os.Stat(appDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s: no app directory (routes live in DIR/app/**/route.go)", appDir)
	}
	var routes []*Route
	var errs []error
	err = filepath.WalkDir(appDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != appDir && (strings.HasPrefix(d.Name(), "_") || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir // private folder, as in Next.js
			}
			return nil
		}
		if d.Name() != RouteFile {
			return nil
		}
		r, err := readRoute(dir, filepath.Dir(path))
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		routes = append(routes, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(routes) == 0 {
		return nil, fmt.Errorf("%s: no routes (add a route.go file under app/, such as app/api/hello/route.go)", appDir)
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Pattern < routes[j].Pattern })
	patterns := make([]string, len(routes))
	for i, r := range routes {
		patterns[i] = r.Pattern
	}
	if _, err := router.New(patterns); err != nil {
		var ce *router.ConflictError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%s and %s conflict: %s", routes[ce.OtherIndex].Source, routes[ce.Index].Source, ce.Reason)
		}
		return nil, err
	}
	assignIDs(routes)
	mw, err := readMiddleware(dir)
	if err != nil {
		return nil, err
	}
	if mw != nil {
		routes = append(routes, mw)
	}
	return routes, nil
}

// MiddlewareFile is the file that holds an app's middleware.
const MiddlewareFile = "middleware.go"

// readMiddleware reads app/middleware.go, if there is one: it must export
// Middleware (a handler, like a method) and may export Matcher, a []string
// literal of path patterns.
func readMiddleware(dir string) (*Route, error) {
	appDir := filepath.Join(dir, "app")
	if _, err := os.Stat(filepath.Join(appDir, MiddlewareFile)); err != nil {
		return nil, nil
	}
	r := &Route{Pattern: "middleware", Dir: appDir, Source: "app/" + MiddlewareFile, Methods: map[string]HandlerKind{},
		ID: "m_middleware", Middleware: true}
	if _, err := r.parseFiles(r.readMiddlewareDecls); err != nil {
		return nil, err
	}
	if _, ok := r.Methods["Middleware"]; !ok {
		return nil, fmt.Errorf("%s: exports no Middleware (want func Middleware(w http.ResponseWriter, r *http.Request))", r.Source)
	}
	if _, err := router.NewMatcher(r.Matcher); err != nil {
		return nil, fmt.Errorf("%s: Matcher: %w", r.Source, err)
	}
	return r, nil
}

func (r *Route) readMiddlewareDecls(fset *token.FileSet, f *ast.File) error {
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil && d.Name.Name == "Middleware" {
				if d.Type.Params.NumFields() != 2 || d.Type.Results.NumFields() != 0 {
					return fmt.Errorf("%s: Middleware must have the signature func(w http.ResponseWriter, r *http.Request)", fset.Position(d.Pos()))
				}
				r.Methods["Middleware"] = FuncHandler
			}
		case *ast.GenDecl:
			if d.Tok != token.VAR {
				continue
			}
			for _, spec := range d.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					switch name.Name {
					case "Middleware":
						r.Methods["Middleware"] = VarHandler
					case "Matcher":
						m, err := stringList(vs, i)
						if err != nil {
							return fmt.Errorf("%s: Matcher must be a []string literal of path patterns, such as []string{\"/api/:path*\"}", fset.Position(name.Pos()))
						}
						r.Matcher = m
					}
				}
			}
		}
	}
	return nil
}

// stringList reads the i-th value of a var spec as a []string literal.
func stringList(vs *ast.ValueSpec, i int) ([]string, error) {
	if i >= len(vs.Values) {
		return nil, errors.New("no value")
	}
	lit, ok := vs.Values[i].(*ast.CompositeLit)
	if !ok {
		return nil, errors.New("not a literal")
	}
	var out []string
	for _, e := range lit.Elts {
		v := evalConst(e)
		if v.Kind() != constant.String {
			return nil, errors.New("not a string")
		}
		out = append(out, constant.StringVal(v))
	}
	return out, nil
}

// PatternFor returns the URL pattern of a route folder given relative to the
// app directory: route groups "(name)" are left out.
func PatternFor(rel string) string {
	var segs []string
	for _, s := range strings.Split(filepath.ToSlash(rel), "/") {
		if s == "" || s == "." || (strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")")) {
			continue
		}
		segs = append(segs, s)
	}
	return "/" + strings.Join(segs, "/")
}

func readRoute(appRoot, dir string) (*Route, error) {
	rel, _ := filepath.Rel(filepath.Join(appRoot, "app"), dir)
	src, _ := filepath.Rel(appRoot, filepath.Join(dir, RouteFile))
	r := &Route{
		Pattern: PatternFor(rel),
		Dir:     dir,
		Source:  filepath.ToSlash(src),
		Methods: map[string]HandlerKind{},
	}
	if _, err := router.Parse(r.Pattern); err != nil {
		return nil, fmt.Errorf("%s: %w", r.Source, err)
	}
	pkgName, err := r.parseFiles(r.readDecls)
	if err != nil {
		return nil, err
	}
	if pkgName == "main" {
		return nil, fmt.Errorf("%s: a route file cannot be package main (use package route)", r.Source)
	}
	if len(r.Methods) == 0 {
		return nil, fmt.Errorf("%s: exports no method handler (want one of func %s(w http.ResponseWriter, r *http.Request))", r.Source, strings.Join(Methods, ", "))
	}
	return r, nil
}

// parseFiles parses the non-test .go files in r.Dir into r.Files, hands each
// to read, and returns the package name.
func (r *Route) parseFiles(read func(*token.FileSet, *ast.File) error) (string, error) {
	entries, err := os.ReadDir(r.Dir)
	if err != nil {
		return "", err
	}
	fset := token.NewFileSet()
	pkgName := ""
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		path := filepath.Join(r.Dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return "", err
		}
		r.Files = append(r.Files, path)
		if pkgName == "" {
			pkgName = f.Name.Name
		}
		if err := read(fset, f); err != nil {
			return "", err
		}
	}
	return pkgName, nil
}

// configNames are the exported constants read as segment config.
var configNames = map[string]bool{"MaxDuration": true, "Dynamic": true, "Revalidate": true, "BodyLimit": true}

func isMethod(name string) bool {
	for _, m := range Methods {
		if m == name {
			return true
		}
	}
	return false
}

// wrongCase refuses an exported name that is a method in another case
// (Post, Get): it would be ignored, and the route would answer 405.
func wrongCase(fset *token.FileSet, name *ast.Ident) error {
	n := name.Name
	if ast.IsExported(n) && !isMethod(n) && isMethod(strings.ToUpper(n)) {
		return fmt.Errorf("%s: %s is not a method handler: method names are upper case (%s)", fset.Position(name.Pos()), n, strings.ToUpper(n))
	}
	return nil
}

// handlerParams reports whether a function's two parameters are an
// http.ResponseWriter and an *http.Request, whatever net/http is imported as.
func handlerParams(params *ast.FieldList) bool {
	var types []ast.Expr
	for _, f := range params.List {
		for range max(1, len(f.Names)) {
			types = append(types, f.Type)
		}
	}
	if len(types) != 2 {
		return false
	}
	sel := func(e ast.Expr, name string) bool {
		s, ok := e.(*ast.SelectorExpr)
		return ok && s.Sel.Name == name
	}
	star, ok := types[1].(*ast.StarExpr)
	return sel(types[0], "ResponseWriter") && ok && sel(star.X, "Request")
}

// paramList writes a function's parameter types as source.
func paramList(params *ast.FieldList) string {
	var parts []string
	for _, f := range params.List {
		var b strings.Builder
		_ = printer.Fprint(&b, token.NewFileSet(), f.Type)
		for range max(1, len(f.Names)) {
			parts = append(parts, b.String())
		}
	}
	return strings.Join(parts, ", ")
}

// isLiteral reports whether e is a basic literal (42, "x"): never a
// handler.
func isLiteral(e ast.Expr) bool {
	_, ok := e.(*ast.BasicLit)
	return ok
}

func (r *Route) readDecls(fset *token.FileSet, f *ast.File) error {
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			if d.Recv != nil {
				continue
			}
			if err := wrongCase(fset, d.Name); err != nil {
				return err
			}
			if !isMethod(d.Name.Name) {
				continue
			}
			t := d.Type
			if t.TypeParams != nil || t.Params.NumFields() != 2 || t.Results.NumFields() != 0 || !handlerParams(t.Params) {
				return fmt.Errorf("%s: %s has the signature func(%s); a handler is func(w http.ResponseWriter, r *http.Request)",
					fset.Position(d.Pos()), d.Name.Name, paramList(t.Params))
			}
			r.Methods[d.Name.Name] = FuncHandler
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				vs, ok := spec.(*ast.ValueSpec)
				if !ok {
					continue
				}
				for i, name := range vs.Names {
					if err := wrongCase(fset, name); err != nil {
						return err
					}
					switch {
					case d.Tok == token.VAR && isMethod(name.Name) && i < len(vs.Values) && isLiteral(vs.Values[i]):
						return fmt.Errorf("%s: %s is not a handler; a handler is func(w http.ResponseWriter, r *http.Request), an http.HandlerFunc or an http.Handler", fset.Position(name.Pos()), name.Name)
					case d.Tok == token.VAR && isMethod(name.Name):
						r.Methods[name.Name] = VarHandler
					case d.Tok == token.CONST && isMethod(name.Name):
						return fmt.Errorf("%s: %s is a constant; a method handler must be a func or an http.Handler var", fset.Position(name.Pos()), name.Name)
					case d.Tok == token.CONST && configNames[name.Name]:
						if i >= len(vs.Values) {
							return fmt.Errorf("%s: %s needs an explicit value", fset.Position(name.Pos()), name.Name)
						}
						if err := r.setConfig(name.Name, vs.Values[i], fset); err != nil {
							return err
						}
					case d.Tok == token.CONST && name.IsExported():
						r.Warnings = append(r.Warnings, fmt.Sprintf("%s: unknown route segment config %s (known: BodyLimit, Dynamic, MaxDuration, Revalidate)", fset.Position(name.Pos()), name.Name))
					}
				}
			}
		}
	}
	return nil
}

func (r *Route) setConfig(name string, expr ast.Expr, fset *token.FileSet) error {
	v := evalConst(expr)
	bad := func(want string) error {
		return fmt.Errorf("%s: %s must be %s", fset.Position(expr.Pos()), name, want)
	}
	switch {
	case name == "Dynamic":
		if v.Kind() != constant.String {
			return bad("a string constant")
		}
		switch d := constant.StringVal(v); d {
		case bundle.DynamicAuto, bundle.DynamicForceDynamic, bundle.DynamicForceStatic, bundle.DynamicError:
			r.Config.Dynamic = d
		default:
			return bad(`"auto", "force-dynamic", "force-static" or "error"`)
		}
	case name == "Revalidate" && v.Kind() == constant.Bool:
		if constant.BoolVal(v) {
			return bad("false or a number of seconds")
		}
		r.Config.Revalidate = bundle.RevalidateNever
	default:
		n, ok := constant.Int64Val(constant.ToInt(v))
		if v.Kind() != constant.Int || !ok || n < 0 {
			return bad("a non-negative integer constant")
		}
		switch name {
		case "MaxDuration":
			r.Config.MaxDuration = int(n)
		case "Revalidate":
			r.Config.Revalidate = int(n)
		case "BodyLimit":
			r.Config.BodyLimit = n
		}
	}
	return nil
}

// evalConst evaluates literal constant expressions such as 10, "auto" and
// 4 << 20. Anything else is constant.Unknown.
func evalConst(e ast.Expr) constant.Value {
	switch e := e.(type) {
	case *ast.BasicLit:
		return constant.MakeFromLiteral(e.Value, e.Kind, 0)
	case *ast.Ident:
		switch e.Name {
		case "false":
			return constant.MakeBool(false)
		case "true":
			return constant.MakeBool(true)
		}
		return constant.MakeUnknown()
	case *ast.ParenExpr:
		return evalConst(e.X)
	case *ast.UnaryExpr:
		x := evalConst(e.X)
		if x.Kind() == constant.Unknown {
			return x
		}
		return constant.UnaryOp(e.Op, x, 0)
	case *ast.BinaryExpr:
		x, y := evalConst(e.X), evalConst(e.Y)
		if x.Kind() == constant.Unknown || y.Kind() == constant.Unknown {
			return constant.MakeUnknown()
		}
		switch e.Op {
		case token.SHL, token.SHR:
			s, ok := constant.Uint64Val(y)
			if !ok || s > 62 {
				return constant.MakeUnknown()
			}
			return constant.Shift(x, e.Op, uint(s))
		case token.EQL, token.NEQ, token.LSS, token.LEQ, token.GTR, token.GEQ:
			return constant.MakeUnknown()
		case token.QUO:
			if constant.Sign(y) == 0 {
				return constant.MakeUnknown()
			}
			if x.Kind() == constant.Int && y.Kind() == constant.Int {
				return constant.BinaryOp(x, token.QUO_ASSIGN, y)
			}
		}
		return constant.BinaryOp(x, e.Op, y)
	}
	return constant.MakeUnknown()
}

// assignIDs gives each route a unique identifier made from its pattern.
func assignIDs(routes []*Route) {
	seen := map[string]int{}
	for _, r := range routes {
		var b strings.Builder
		for _, c := range strings.ToLower(r.Pattern) {
			if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') {
				b.WriteRune(c)
			} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
		}
		id := strings.Trim(b.String(), "_")
		if id == "" {
			id = "index"
		}
		if n := seen[id]; n > 0 {
			seen[id] = n + 1
			id = fmt.Sprintf("%s_%d", id, n+1)
		} else {
			seen[id] = 1
		}
		r.ID = "r_" + id
	}
}
