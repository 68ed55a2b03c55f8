"""factory_boy factories for the registry and the cast of users."""

import factory
from django.contrib.auth.models import Group, User

from core.models import Team
from registry.models import Dataset, DatasetVersion, ModelVersion, RegisteredModel


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if create and extracted:
            # get_or_create: a transactional test's flush empties the groups the migration made.
            self.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in extracted))


class TeamFactory(factory.django.DjangoModelFactory[Team]):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"team-{n}")
    title = factory.LazyAttribute(lambda t: t.name.title())


class RegisteredModelFactory(factory.django.DjangoModelFactory[RegisteredModel]):
    class Meta:
        model = RegisteredModel

    name = factory.Sequence(lambda n: f"model-{n}")
    title = factory.LazyAttribute(lambda m: f"Model {m.name}")
    owner_team = factory.SubFactory(TeamFactory)
    created_by = factory.SubFactory(UserFactory)


class ModelVersionFactory(factory.django.DjangoModelFactory[ModelVersion]):
    """A version row without an artifact in storage: for queries and lineage, not for loading."""

    class Meta:
        model = ModelVersion

    model = factory.SubFactory(RegisteredModelFactory)
    version = factory.Sequence(lambda n: n + 1)
    artifact_key = factory.LazyAttribute(lambda v: f"artifacts/sha256/00/{v.artifact_sha256}")
    artifact_sha256 = factory.Sequence(lambda n: f"{n:064x}")
    artifact_size = 1
    artifact_format = "skops"
    created_by = factory.SubFactory(UserFactory)


class DatasetFactory(factory.django.DjangoModelFactory[Dataset]):
    class Meta:
        model = Dataset

    name = factory.Sequence(lambda n: f"dataset-{n}")
    created_by = factory.SubFactory(UserFactory)


class DatasetVersionFactory(factory.django.DjangoModelFactory[DatasetVersion]):
    class Meta:
        model = DatasetVersion

    dataset = factory.SubFactory(DatasetFactory)
    version = factory.Sequence(lambda n: n + 1)
    file_key = factory.LazyAttribute(lambda v: f"datasets/sha256/00/{v.sha256}")
    sha256 = factory.Sequence(lambda n: f"{n + 10**6:064x}")
    size = 1
    file_format = "csv"
    row_count = 1
    schema = factory.LazyFunction(lambda: [{"name": "x", "dtype": "integer", "nullable": False}])
    created_by = factory.SubFactory(UserFactory)
