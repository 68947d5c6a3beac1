package server

import "net/http"

func (s *Server) dashboardRoutes(mux *http.ServeMux) {}
