from __future__ import annotations

from django import forms

from backend.profiles.models import Profile


class ProfileForm(forms.ModelForm[Profile]):
    class Meta:
        model = Profile
        fields = ("display_name", "bio")
        widgets = {"bio": forms.Textarea(attrs={"rows": 4})}


class PhotoForm(forms.Form):
    photo = forms.FileField(
        label="New photo",
        help_text="JPEG, PNG, WebP or GIF, up to 10 MB.",
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/jpeg,image/png,image/webp,image/gif"}
        ),
    )
