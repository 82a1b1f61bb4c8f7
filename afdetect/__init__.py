"""afdetect: atrial-fibrillation detection in PhysioNet WFDB records with ECGCNN."""

__version__ = "0.1.0"
