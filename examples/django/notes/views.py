from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from notes.models import Note


class NoteForm(forms.ModelForm):
    class Meta:
        model = Note
        fields = ["body", "author"]

    def clean_author(self) -> str | None:
        # A blank author is "not known yet" (NULL), which the worker backfills; an empty string
        # would look known and stay blank forever.
        return self.cleaned_data["author"] or None


def index(request: HttpRequest) -> HttpResponse:
    """List the latest notes; POST adds one (CSRF-protected like every Django form)."""
    form = NoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        return redirect("index")  # post/redirect/get: a reload does not post twice
    notes = Note.objects.all()[:50]
    return render(request, "notes/index.html", {"form": form, "notes": notes, "count": Note.objects.count()})
