package host

// match is the stage after the limits and the redirect: it finds the route
// serving path (Next.js precedence, host/router) and puts its parameters in
// c's request head, or returns nil for a 404.
func (s *generation) match(c *call, path string) *route {
	idx, params, ok := s.router.Match(path, c.head.Params[:0])
	c.head.Params = params
	if !ok {
		return nil
	}
	return s.routes[idx]
}
