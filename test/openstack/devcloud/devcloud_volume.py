"""A Cinder volume driver for the dev cloud: Cinder's own fake test driver, plus extend.

FakeLoggingVolumeDriver inherits extend from the LVM driver, whose fake volume group cannot extend, so
every extend ends in error_extending. The size lives in Cinder's database; nothing to do on "disk"."""
from cinder.tests import fake_driver


class FakeVolumeDriver(fake_driver.FakeLoggingVolumeDriver):
    def extend_volume(self, volume, new_size):
        pass
