"""Checkpoints as models: variant detection, building, what a file is, conversion, downloads.

Paper: none (engineering). Above the model files (these build models from the registry) and above
``mae_core.io`` (which reads and writes files and knows no model). Shapes: see each module.
"""
