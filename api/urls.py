from __future__ import annotations

from django.urls import path

from api import (
    alerts,
    audit,
    auth,
    checkins,
    cohort,
    episodes,
    exercise_logs,
    fhir,
    health,
    me,
    prescription,
    privacy,
    protocols,
    push,
    questionnaires,
    reminders,
    security,
    trajectory,
)

app_name = "api"

urlpatterns = [
    path("health/", health.HealthView.as_view(), name="health"),
    path("auth/token/", auth.TokenView.as_view(), name="token"),
    path("auth/csrf/", auth.CsrfView.as_view(), name="csrf"),
    path("auth/login/", auth.LoginView.as_view(), name="login"),
    path("auth/logout/", auth.LogoutView.as_view(), name="logout"),
    path("auth/set-password/", auth.SetPasswordView.as_view(), name="set-password"),
    path("me/", me.MeView.as_view(), name="me"),
    path("episodes/", episodes.EpisodeListView.as_view(), name="episode-list"),
    path("episodes/<uuid:episode_id>/", episodes.EpisodeDetailView.as_view(), name="episode-detail"),
    path("episodes/<uuid:episode_id>/check-ins/", checkins.CheckInListView.as_view(), name="checkin-list"),
    path(
        "episodes/<uuid:episode_id>/check-ins/<uuid:checkin_id>/",
        checkins.CheckInDetailView.as_view(),
        name="checkin-detail",
    ),
    *prescription.urlpatterns,
    *exercise_logs.urlpatterns,
    *questionnaires.urlpatterns,
    *push.urlpatterns,
    *reminders.urlpatterns,
    *security.urlpatterns,
    *alerts.urlpatterns,
    *fhir.urlpatterns,
    *protocols.urlpatterns,
    *trajectory.urlpatterns,
    *cohort.urlpatterns,
    *audit.urlpatterns,
    *privacy.urlpatterns,
]
